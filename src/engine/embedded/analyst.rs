//! Analyst SQL on the embedded engine: the query is planned by DataFusion, refused unless it
//! only reads ([`super::sql::refuse_writes`]), capped at `max_rows + 1` rows (the extra row
//! only tells that there were more), and converted to the engine-neutral [`SqlResult`].

use chrono::DateTime;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, TimeUnit,
    TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use serde_json::Value;

use super::sql::refuse_writes;
use super::EmbeddedError;
use crate::engine::{SqlColumn, SqlResult};

/// Plans, checks and runs one analyst query, returning at most `max_rows` rows.
pub async fn run(
    context: &SessionContext,
    query: &str,
    max_rows: usize,
) -> Result<SqlResult, EmbeddedError> {
    let plan = context.state().create_logical_plan(query).await?;
    refuse_writes(&plan)?;
    let frame = context
        .execute_logical_plan(plan)
        .await?
        .limit(0, Some(max_rows.saturating_add(1)))?;
    let columns: Vec<SqlColumn> = frame
        .schema()
        .fields()
        .iter()
        .map(|field| SqlColumn {
            name: field.name().clone(),
            data_type: field.data_type().to_string(),
        })
        .collect();
    let batches = frame.collect().await?;
    let mut rows = Vec::new();
    for batch in &batches {
        append_rows(batch, &mut rows)?;
    }
    let truncated = rows.len() > max_rows;
    rows.truncate(max_rows);
    Ok(SqlResult {
        columns,
        rows,
        truncated,
    })
}

fn append_rows(batch: &RecordBatch, rows: &mut Vec<Vec<Value>>) -> Result<(), EmbeddedError> {
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(normalize_times)
        .collect::<Result<_, _>>()?;
    for row in 0..batch.num_rows() {
        rows.push(
            columns
                .iter()
                .map(|column| json_value(column, row))
                .collect::<Result<_, _>>()?,
        );
    }
    Ok(())
}

/// Timestamps of any unit and zone become UTC seconds, the resolution both engines share.
fn normalize_times(array: &ArrayRef) -> Result<ArrayRef, EmbeddedError> {
    match array.data_type() {
        DataType::Timestamp(_, _) => Ok(cast(array, &DataType::Timestamp(TimeUnit::Second, None))?),
        _ => Ok(array.clone()),
    }
}

fn json_value(array: &ArrayRef, row: usize) -> Result<Value, EmbeddedError> {
    if array.is_null(row) {
        return Ok(Value::Null);
    }
    Ok(match array.data_type() {
        DataType::Boolean => Value::from(array.as_boolean().value(row)),
        DataType::Int8 => Value::from(array.as_primitive::<Int8Type>().value(row)),
        DataType::Int16 => Value::from(array.as_primitive::<Int16Type>().value(row)),
        DataType::Int32 => Value::from(array.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => Value::from(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => Value::from(array.as_primitive::<UInt8Type>().value(row)),
        DataType::UInt16 => Value::from(array.as_primitive::<UInt16Type>().value(row)),
        DataType::UInt32 => Value::from(array.as_primitive::<UInt32Type>().value(row)),
        DataType::UInt64 => Value::from(array.as_primitive::<UInt64Type>().value(row)),
        DataType::Float32 => Value::from(f64::from(array.as_primitive::<Float32Type>().value(row))),
        DataType::Float64 => Value::from(array.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 => Value::from(array.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Value::from(array.as_string::<i64>().value(row)),
        DataType::Utf8View => Value::from(array.as_string_view().value(row)),
        DataType::Timestamp(TimeUnit::Second, _) => {
            let seconds = array.as_primitive::<TimestampSecondType>().value(row);
            DateTime::from_timestamp(seconds, 0)
                .map(|time| Value::from(time.format("%Y-%m-%d %H:%M:%S").to_string()))
                .unwrap_or(Value::Null)
        }
        DataType::List(_) => {
            let values = array.as_list::<i32>().value(row);
            Value::Array(
                (0..values.len())
                    .map(|index| json_value(&values, index))
                    .collect::<Result<_, _>>()?,
            )
        }
        _ => {
            // Dates, decimals, intervals, ...: their Arrow text form.
            let formatter = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default())?;
            Value::from(formatter.value(row).to_string())
        }
    })
}
