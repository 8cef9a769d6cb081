//! [`StringList`]: a list of strings kept in one buffer, the form of an event's array columns.

use std::fmt;

use serde::ser::{Serialize, SerializeSeq, Serializer};

/// A list of strings packed back to back into one buffer, with where each one ends (as an
/// Arrow string array keeps them).
///
/// An event's array columns (its frames' modules, functions and file names, its exception
/// types and values, its tag keys and values) hold about a hundred short strings. As
/// `Vec<String>` each was allocated, copied and freed on its own for every event ingested;
/// packed, a list costs two allocations whatever its length.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StringList {
    text: String,
    /// Where each item ends in `text`; an item starts where the one before it ends.
    ends: Vec<usize>,
}

impl StringList {
    pub fn new() -> StringList {
        StringList::default()
    }

    /// An empty list with room for `items` strings of `bytes` bytes in all.
    pub fn with_capacity(items: usize, bytes: usize) -> StringList {
        StringList {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(items),
        }
    }

    pub fn push(&mut self, item: &str) {
        self.text.push_str(item);
        self.ends.push(self.text.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<&str> {
        let end = *self.ends.get(index)?;
        let start = match index {
            0 => 0,
            _ => self.ends[index - 1],
        };
        self.text.get(start..end)
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter {
            list: self,
            start: 0,
            index: 0,
        }
    }

    /// The bytes of all items together.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }
}

/// The items of a [`StringList`], in order.
#[derive(Clone)]
pub struct Iter<'a> {
    list: &'a StringList,
    start: usize,
    index: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let end = *self.list.ends.get(self.index)?;
        let item = self.list.text.get(self.start..end)?;
        self.start = end;
        self.index += 1;
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.list.ends.len() - self.index;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a StringList {
    type Item = &'a str;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<S: AsRef<str>> FromIterator<S> for StringList {
    fn from_iter<I: IntoIterator<Item = S>>(items: I) -> StringList {
        let items = items.into_iter();
        let mut list = StringList::with_capacity(items.size_hint().0, 0);
        for item in items {
            list.push(item.as_ref());
        }
        list
    }
}

impl<S: AsRef<str>, const N: usize> From<[S; N]> for StringList {
    fn from(items: [S; N]) -> StringList {
        items.into_iter().collect()
    }
}

impl<S: AsRef<str>> PartialEq<Vec<S>> for StringList {
    fn eq(&self, other: &Vec<S>) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| a == b.as_ref())
    }
}

impl fmt::Debug for StringList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// As a sequence of strings, the way `Vec<String>` serializes (a ClickHouse `Array(String)`).
impl Serialize for StringList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut sequence = serializer.serialize_seq(Some(self.len()))?;
        for item in self {
            sequence.serialize_element(item)?;
        }
        sequence.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_come_back_as_pushed_including_empty_and_multibyte_ones() {
        let items = ["shop.pay", "", "händler", "€", ""];
        let list: StringList = items.into();
        assert_eq!(list.len(), 5);
        assert!(!list.is_empty());
        assert_eq!(list.iter().collect::<Vec<_>>(), items);
        assert_eq!(list.iter().len(), 5);
        for (index, item) in items.iter().enumerate() {
            assert_eq!(list.get(index), Some(*item));
        }
        assert_eq!(list.get(5), None);
        assert_eq!(
            list.text_len(),
            items.iter().map(|item| item.len()).sum::<usize>()
        );
        assert_eq!(list, items.to_vec());
        assert_ne!(list, items[..4].to_vec());
        assert_eq!(format!("{list:?}"), format!("{items:?}"));
    }

    #[test]
    fn an_empty_list_has_no_items() {
        let list = StringList::new();
        assert!(list.is_empty());
        assert_eq!(list.get(0), None);
        assert_eq!(list.iter().next(), None);
        assert_eq!(list, Vec::<String>::new());
    }

    #[test]
    fn lists_are_equal_by_items_not_by_how_they_were_split() {
        let ab: StringList = ["a", "b"].into();
        let joined: StringList = ["ab"].into();
        let split: StringList = ["a", "b"].into();
        assert_ne!(ab, joined);
        assert_eq!(ab, split);
    }

    #[test]
    fn serializes_as_a_sequence_of_strings() {
        let list: StringList = ["x", "", "y z"].into();
        assert_eq!(
            serde_json::to_string(&list).expect("json"),
            r#"["x","","y z"]"#
        );
    }
}
