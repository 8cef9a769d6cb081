//! Per-platform stack frame normalization: module/package + function, stripped of line numbers, addresses and generated names.
//!
//! Everything here is hand-written string scanning rather than regexes: it runs for every
//! in-app frame of every event, and the fingerprint budget is a few microseconds per event.

use std::borrow::Cow;

use stackhouse_protocol::Frame;

/// The platforms whose frames are normalized differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramePlatform {
    Python,
    /// Browser and Node.
    JavaScript,
    /// Java and the other JVM languages (Kotlin, Scala, Groovy, Clojure).
    Java,
    Go,
    /// Rust and other native code (C, C++, Swift/Objective-C symbols).
    Native,
    Ruby,
    Php,
    /// C#, F#, VB.NET.
    DotNet,
    Other,
}

impl FramePlatform {
    /// The platform of a Sentry `platform` string (event-level or frame-level).
    pub fn from_sdk_platform(platform: &str) -> FramePlatform {
        match platform {
            "python" => FramePlatform::Python,
            "javascript" | "node" | "nodejs" | "typescript" => FramePlatform::JavaScript,
            "java" | "kotlin" | "scala" | "groovy" | "clojure" | "android" | "jvm" => {
                FramePlatform::Java
            }
            "go" | "golang" => FramePlatform::Go,
            "rust" | "native" | "c" | "cpp" | "cocoa" | "objc" | "swift" => FramePlatform::Native,
            "ruby" => FramePlatform::Ruby,
            "php" => FramePlatform::Php,
            "csharp" | "dotnet" | "fsharp" | "vbnet" | "unity" => FramePlatform::DotNet,
            _ => FramePlatform::Other,
        }
    }
}

/// A frame reduced to what identifies the code that ran: where (`module`) and what (`function`).
/// Either may be empty, never both.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
///
/// Both borrow from the event when normalization changes nothing, which is the common case:
/// this runs for every in-app frame of every event.
pub struct NormalizedFrame<'a> {
    pub module: Cow<'a, str>,
    pub function: Cow<'a, str>,
}

impl NormalizedFrame<'_> {
    /// `module in function`, `module` or `function`: the value hashed and explained.
    pub fn key(&self) -> String {
        match (self.module.is_empty(), self.function.is_empty()) {
            (false, false) => {
                let mut key = String::with_capacity(self.module.len() + self.function.len() + 4);
                key.push_str(&self.module);
                key.push_str(" in ");
                key.push_str(&self.function);
                key
            }
            (false, true) => self.module.clone().into_owned(),
            _ => self.function.clone().into_owned(),
        }
    }
}

/// Why a frame contributes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameSkip {
    /// Neither a module/path nor a function name survived normalization.
    NothingStable,
}

impl FrameSkip {
    pub fn as_str(self) -> &'static str {
        match self {
            FrameSkip::NothingStable => "no stable module or function",
        }
    }
}

/// Normalizes one frame. `platform` is the frame's own platform when it has one, else the
/// event's.
pub fn normalize_frame(
    frame: &Frame,
    platform: FramePlatform,
) -> Result<NormalizedFrame<'_>, FrameSkip> {
    let raw_function = frame.function.as_deref().map(trim).unwrap_or("");
    let function: Cow<'_, str> = match platform {
        FramePlatform::Python | FramePlatform::Other => {
            Cow::Borrowed(clean_generic_function(raw_function))
        }
        FramePlatform::JavaScript => normalize_js_function(raw_function).into(),
        FramePlatform::Java => normalize_java_function(raw_function).into(),
        FramePlatform::Go => normalize_go_function(raw_function).into(),
        FramePlatform::Native => normalize_native_function(raw_function).into(),
        FramePlatform::Ruby => normalize_ruby_function(raw_function).into(),
        FramePlatform::Php => normalize_php_function(raw_function).into(),
        FramePlatform::DotNet => Cow::Borrowed(""), // needs the module, see below
    };

    let raw_module = frame
        .module
        .as_deref()
        .map(trim)
        .filter(|module| !module.is_empty());
    let (module, function): (Cow<'_, str>, Cow<'_, str>) = match platform {
        FramePlatform::DotNet => {
            let (module, function) = normalize_dotnet(raw_module.unwrap_or(""), raw_function);
            (module.into(), function.into())
        }
        FramePlatform::Java => (
            raw_module
                .map(normalize_java_class)
                .unwrap_or_default()
                .into(),
            function,
        ),
        FramePlatform::JavaScript => {
            let module = match raw_module {
                Some(module) => normalize_js_module(module),
                None => path_module(frame),
            };
            (module.into(), function)
        }
        _ => {
            let module = match raw_module {
                Some(module) => strip_versions_and_hashes_in_module(module),
                // A fully qualified function name already says where it lives, and a path
                // would only add the build machine's directory layout.
                None if is_qualified(&function) => Cow::Borrowed(""),
                None => frame
                    .package
                    .as_deref()
                    .map(normalize_package)
                    .filter(|package| !package.is_empty())
                    .unwrap_or_else(|| path_module(frame))
                    .into(),
            };
            (module, function)
        }
    };

    if module.is_empty() && function.is_empty() {
        return Err(FrameSkip::NothingStable);
    }
    Ok(NormalizedFrame { module, function })
}

/// Whether a function name carries its own namespace (`crate::module::f`, `App\Ctrl::show`).
fn is_qualified(function: &str) -> bool {
    let anonymous_class = function.starts_with("class@anonymous");
    !anonymous_class && (function.contains("::") || function.contains('\\'))
}

/// Function names that mean "unknown": dropped.
fn clean_generic_function(function: &str) -> &str {
    let function = trim(function);
    if function.is_empty()
        || function == "?"
        || function == "<unknown>"
        || function == "<anonymous>"
        || function == "unknown"
        || is_address(function)
    {
        return "";
    }
    function
}

/// `0x7ffd1234abcd` or a bare long hex run: an address, never a name.
fn is_address(text: &str) -> bool {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    let looks_prefixed = digits.len() != text.len();
    !digits.is_empty()
        && digits.bytes().all(|byte| byte.is_ascii_hexdigit())
        && (looks_prefixed || (digits.len() >= 8 && digits.bytes().any(|b| b.is_ascii_digit())))
}

// ---------------------------------------------------------------------------------------------
// JavaScript

/// `async Foo.bar [as baz]` → `Foo.bar`; anonymous and minified names → empty.
fn normalize_js_function(function: &str) -> String {
    let mut function = function.trim();
    for prefix in ["async ", "new ", "Object.<anonymous>", "Module.<anonymous>"] {
        if let Some(rest) = function.strip_prefix(prefix) {
            function = rest.trim_start();
        }
    }
    if let Some(alias) = function.find(" [as ") {
        function = &function[..alias];
    }
    let function = function
        .trim_start_matches("Object.")
        .trim_start_matches("Module.");
    let function = clean_generic_function(function);
    if function.contains("<anonymous>") || function.starts_with('<') {
        return String::new();
    }
    // Without source maps a minified bundle names functions `e`, `t.n`, `Xe`: those names
    // change with every build, so they identify nothing. Method names survive minification
    // (`t.handleSubmit`) but the mangled receiver before them does not.
    let minified = function
        .split('.')
        .all(|part| part.len() <= 2 && !part.is_empty());
    if minified {
        return String::new();
    }
    let mut function = function;
    while let Some((receiver, rest)) = function.split_once('.') {
        if receiver.len() == 1 && !rest.is_empty() {
            function = rest;
        } else {
            break;
        }
    }
    function.to_owned()
}

/// Node SDK modules (`app.handlers:user`, `src/handlers/user.js`) with bundle hashes removed.
fn normalize_js_module(module: &str) -> String {
    if module.contains('/') || module.contains('\\') {
        return normalize_path(module);
    }
    strip_versions_and_hashes_in_module(module).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Java and the JVM

/// Generated class names reduced to the class they were generated for:
/// `Foo$$EnhancerBySpringCGLIB$$1a2b3c` → `Foo`, `Foo_$$_jvst1a2_3` → `Foo`,
/// `Foo$$Lambda$123/0x0000000800c02040` → `Foo$$Lambda`, `$Proxy123` → `$Proxy`,
/// `GeneratedMethodAccessor42` → `GeneratedMethodAccessor`, `Foo$1` → `Foo$`.
fn normalize_java_class(class: &str) -> String {
    let mut class = class.trim();
    if let Some(index) = class.find("$$Lambda") {
        let mut lambda = class[..index].to_owned();
        lambda.push_str("$$Lambda");
        return lambda;
    }
    for marker in [
        "_$$_",
        "$$",
        "$HibernateProxy$",
        "$ByteBuddy$",
        "$MockitoMock$",
        "$Proxy$_$$_",
    ] {
        if let Some(index) = class.find(marker) {
            class = &class[..index];
        }
    }
    // JDK dynamic proxies live in `jdk.proxyN` / `com.sun.proxy` with numbered names.
    let mut normalized = String::with_capacity(class.len());
    for (index, segment) in class.split('$').enumerate() {
        if index > 0 {
            normalized.push('$');
        }
        let segment = strip_trailing_digits_of_generated(segment);
        if !segment.bytes().all(|byte| byte.is_ascii_digit()) {
            normalized.push_str(segment);
        }
    }
    if let Some(rest) = normalized.strip_prefix("jdk.proxy") {
        let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        return format!("jdk.proxy{rest}");
    }
    normalized
}

/// `GeneratedMethodAccessor123` → `GeneratedMethodAccessor`, `Proxy42` → `Proxy`.
fn strip_trailing_digits_of_generated(segment: &str) -> &str {
    for generated in [
        "GeneratedMethodAccessor",
        "GeneratedConstructorAccessor",
        "GeneratedSerializationConstructorAccessor",
        "Proxy",
    ] {
        let last_dot = segment.rfind('.').map_or(0, |dot| dot + 1);
        let name = &segment[last_dot..];
        if name.starts_with(generated)
            && name[generated.len()..].bytes().all(|b| b.is_ascii_digit())
        {
            return &segment[..last_dot + generated.len()];
        }
    }
    segment
}

/// `lambda$placeOrder$3` → `lambda$placeOrder`, `access$000` → `access$`.
fn normalize_java_function(function: &str) -> String {
    let function = clean_generic_function(function);
    let mut parts: Vec<&str> = function.split('$').collect();
    while parts.len() > 1
        && parts
            .last()
            .is_some_and(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
    {
        parts.pop();
    }
    let mut normalized = parts.join("$");
    if function.starts_with("access$") && normalized == "access" {
        normalized.push('$');
    }
    normalized
}

// ---------------------------------------------------------------------------------------------
// Go

/// `(*Service).PlaceOrder.func1.2` → `(*Service).PlaceOrder`, `glob..func1` → `glob`,
/// `Map[...]` → `Map`, method values `Handle-fm` → `Handle`.
fn normalize_go_function(function: &str) -> String {
    let function = clean_generic_function(function);
    let function = function.strip_suffix("-fm").unwrap_or(function);
    let mut normalized = String::with_capacity(function.len());
    let mut in_closure = false;
    for part in split_outside_parens(function, '.') {
        let part = strip_generic_brackets(part);
        let is_closure = part
            .strip_prefix("func")
            .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
        let is_nested_closure = in_closure && part.bytes().all(|b| b.is_ascii_digit());
        if is_closure || is_nested_closure {
            in_closure = true;
            continue;
        }
        in_closure = false;
        if part.is_empty() {
            continue;
        }
        if !normalized.is_empty() {
            normalized.push('.');
        }
        normalized.push_str(part);
    }
    normalized
}

/// Splits on `separator` except inside `(...)` (Go receivers contain dots: `(*pkg.T).M`).
fn split_outside_parens(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (index, character) in text.char_indices() {
        match character {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            _ if character == separator && depth == 0 => {
                parts.push(&text[start..index]);
                start = index + character.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// `Map[go.shape.int]` → `Map`.
fn strip_generic_brackets(part: &str) -> &str {
    match part.find('[') {
        Some(index) if part.ends_with(']') => &part[..index],
        _ => part,
    }
}

// ---------------------------------------------------------------------------------------------
// Rust and native

/// `app::orders::place::h0123456789abcdef` → `app::orders::place`,
/// `{closure#0}` → `{closure}`, `{async_fn_env#1}` → `{async_fn_env}`, addresses dropped.
fn normalize_native_function(function: &str) -> String {
    let function = clean_generic_function(function);
    let function = strip_rust_hash(function);
    let mut normalized = String::with_capacity(function.len());
    let mut rest = function;
    // `{closure#0}` and friends (v0 mangling) number closures in source order.
    while let Some(hash) = rest.find('#') {
        let (before, after) = rest.split_at(hash);
        normalized.push_str(before);
        let digits = after[1..]
            .bytes()
            .take_while(|byte| byte.is_ascii_digit())
            .count();
        if digits == 0 {
            normalized.push('#');
        }
        rest = &after[1 + digits..];
    }
    normalized.push_str(rest);
    normalized
}

/// Strips the `::h` + 16 hex digits symbol hash rustc appends to legacy-mangled names.
fn strip_rust_hash(function: &str) -> &str {
    if let Some(index) = function.rfind("::h") {
        let hash = &function[index + 3..];
        if hash.len() == 16 && hash.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return &function[..index];
        }
    }
    function
}

// ---------------------------------------------------------------------------------------------
// Ruby

/// `block (2 levels) in process` → `process`, `rescue in process` → `process`, compiled Rails
/// templates `_app_views_orders_show_html_erb__123_456` → `_app_views_orders_show_html_erb`.
fn normalize_ruby_function(function: &str) -> String {
    let mut function = clean_generic_function(function);
    loop {
        let stripped = ["block in ", "rescue in ", "ensure in "]
            .iter()
            .find_map(|prefix| function.strip_prefix(prefix))
            .or_else(|| {
                let rest = function.strip_prefix("block (")?;
                let (_, after) = rest.split_once(") in ")?;
                Some(after)
            });
        match stripped {
            Some(rest) => function = rest.trim(),
            None => break,
        }
    }
    if let Some(index) = function.find("__") {
        let suffix = &function[index + 2..];
        let is_template_id = !suffix.is_empty()
            && suffix
                .bytes()
                .all(|byte| byte.is_ascii_digit() || byte == b'_' || byte == b'-');
        if is_template_id {
            function = &function[..index];
        }
    }
    function.to_owned()
}

// ---------------------------------------------------------------------------------------------
// PHP

/// `class@anonymous/var/www/src/x.php:12$0` → `class@anonymous`; `{closure}` kept (stable).
fn normalize_php_function(function: &str) -> String {
    let function = clean_generic_function(function);
    if let Some(index) = function.find("class@anonymous") {
        let end = index + "class@anonymous".len();
        let after = &function[end..];
        let method = after.find("::").map_or("", |method| &after[method..]);
        return format!("{}{method}", &function[..end]);
    }
    function.to_owned()
}

// ---------------------------------------------------------------------------------------------
// .NET

/// Compiler-generated types and methods reduced to the method the developer wrote:
/// `Ns.Svc+<PlaceOrderAsync>d__5` / `MoveNext` → `Ns.Svc` / `PlaceOrderAsync`,
/// `Ns.Svc+<>c__DisplayClass3_0` / `<Handle>b__0` → `Ns.Svc` / `Handle.lambda`,
/// `<Main>g__Local|0_0` → `Main.Local`. Argument lists `(Int32 id)` are dropped.
fn normalize_dotnet(module: &str, function: &str) -> (String, String) {
    let function = clean_generic_function(function);
    let function = function
        .find('(')
        .map_or(function, |paren| &function[..paren])
        .trim();

    // Some SDKs send the full `Namespace.Type.Method` as the function and no module.
    let (module, function) = if module.is_empty() {
        match function.rfind('.') {
            Some(dot) if !function[..dot].contains('<') || function[..dot].contains('+') => {
                (&function[..dot], &function[dot + 1..])
            }
            _ => ("", function),
        }
    } else {
        (module, function)
    };

    let mut kept_module = String::with_capacity(module.len());
    let mut state_machine_method: Option<&str> = None;
    for (index, nested) in module.split('+').enumerate() {
        match generated_name(nested) {
            Some(Generated::StateMachine(method)) => state_machine_method = Some(method),
            Some(Generated::Closure | Generated::Lambda(_) | Generated::LocalFunction(..)) => {}
            None => {
                if index > 0 {
                    kept_module.push('+');
                }
                kept_module.push_str(strip_assembly_version(nested));
            }
        }
    }

    let function = match generated_name(function) {
        Some(Generated::Lambda(method)) => format!("{method}.lambda"),
        Some(Generated::LocalFunction(method, local)) => format!("{method}.{local}"),
        Some(Generated::StateMachine(method)) => method.to_owned(),
        Some(Generated::Closure) => String::new(),
        None => match state_machine_method {
            Some(method) if matches!(function, "MoveNext" | "" | "SetStateMachine") => {
                method.to_owned()
            }
            _ => function.to_owned(),
        },
    };
    (kept_module, function)
}

enum Generated<'a> {
    /// `<Method>d__5`: async method or iterator state machine.
    StateMachine(&'a str),
    /// `<>c`, `<>c__DisplayClass5_0`: closure container.
    Closure,
    /// `<Method>b__5_0`: lambda body.
    Lambda(&'a str),
    /// `<Method>g__Local|0_0`: local function.
    LocalFunction(&'a str, &'a str),
}

fn generated_name(name: &str) -> Option<Generated<'_>> {
    let rest = name.strip_prefix('<')?;
    let close = rest.find('>')?;
    let method = &rest[..close];
    let suffix = &rest[close + 1..];
    if method.is_empty() {
        return Some(Generated::Closure);
    }
    if suffix.starts_with("d__") {
        return Some(Generated::StateMachine(method));
    }
    if suffix.starts_with("b__") {
        return Some(Generated::Lambda(method));
    }
    if let Some(local) = suffix.strip_prefix("g__") {
        let local = local.split('|').next().unwrap_or(local);
        return Some(Generated::LocalFunction(method, local));
    }
    Some(Generated::Closure)
}

/// `MyApp, Version=1.2.3.4, Culture=neutral` → `MyApp`.
fn strip_assembly_version(name: &str) -> &str {
    // A byte loop: names are short, and this runs for every frame's module.
    let assembly = name
        .bytes()
        .position(|byte| byte == b',')
        .map_or(name, |comma| &name[..comma]);
    trim(assembly)
}

/// [`str::trim`], with a fast path for what frames almost always hold: text that starts and
/// ends with a visible ASCII character, which has nothing to trim. Runs several times per
/// frame.
#[inline]
fn trim(text: &str) -> &str {
    match text.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

// ---------------------------------------------------------------------------------------------
// Paths and modules shared by several platforms

/// A module name from a package (`MyApp, Version=1.0.0.0` → `MyApp`, `/usr/lib/libc-2.31.so`
/// → `libc`).
fn normalize_package(package: &str) -> String {
    let package = strip_assembly_version(package);
    if package.contains('/') || package.contains('\\') {
        let basename = package.rsplit(['/', '\\']).next().unwrap_or(package);
        return strip_file_name(basename);
    }
    strip_versions_and_hashes_in_module(package).into_owned()
}

/// The module of a frame that has none: its path, normalized.
fn path_module(frame: &Frame) -> String {
    frame
        .filename
        .as_deref()
        .filter(|filename| !filename.trim().is_empty())
        .or(frame.abs_path.as_deref())
        .map(normalize_path)
        .unwrap_or_default()
}

/// How many trailing path segments identify a file: enough to tell `orders/views` from
/// `users/views`, few enough to ignore where the app was deployed.
const PATH_SEGMENTS_KEPT: usize = 3;

/// A path or URL reduced to the part that names the code:
/// `https://cdn.example.com/static/js/main.3f2a1b9c.chunk.js?v=2` → `static/js/main`,
/// `/srv/releases/20240102/app/models/order.rb` → `app/models/order`,
/// `/app/node_modules/.pnpm/react-dom@18.2.0/node_modules/react-dom/cjs/x.js` →
/// `react-dom/cjs/x`.
pub fn normalize_path(path: &str) -> String {
    let mut path = path.trim();
    if let Some(scheme_end) = path.find("://") {
        let after = &path[scheme_end + 3..];
        path = after.find('/').map_or("", |slash| &after[slash..]);
    }
    if let Some(end) = path.find(['?', '#']) {
        path = &path[..end];
    }
    if let Some(index) = path.rfind("node_modules/") {
        path = &path[index + "node_modules/".len()..];
    }

    let mut segments: Vec<String> = Vec::with_capacity(8);
    let raw_segments: Vec<&str> = path.split(['/', '\\']).collect();
    let last_index = raw_segments.len().saturating_sub(1);
    for (index, segment) in raw_segments.into_iter().enumerate() {
        if segment.is_empty() || segment == "." || segment == ".." || segment == "~" {
            continue;
        }
        let normalized = if index == last_index {
            let file_name = strip_file_name(segment);
            if file_name.is_empty() {
                // `532.a1b2c3.js`: a chunk named by build ids only. Its directory is shared by
                // every chunk, so it identifies nothing either.
                return String::new();
            }
            file_name
        } else {
            strip_version_suffix(segment).to_owned()
        };
        if normalized.is_empty() || is_variable_token(&normalized) {
            continue;
        }
        segments.push(normalized);
    }
    let keep_from = segments.len().saturating_sub(PATH_SEGMENTS_KEPT);
    segments[keep_from..].join("/")
}

/// File extensions stripped from basenames (the same code compiles to `.ts` and `.js`).
const SOURCE_EXTENSIONS: [&str; 20] = [
    "js", "mjs", "cjs", "jsx", "ts", "tsx", "mts", "cts", "vue", "svelte", "py", "pyc", "rb",
    "php", "go", "rs", "cs", "java", "kt", "map",
];

/// Bundler decorations that carry no identity.
const BUNDLE_WORDS: [&str; 4] = ["chunk", "min", "bundle", "entry"];

/// `main.3f2a1b9c.chunk.js` → `main`, `index-BfK3x9aZ.js` → `index`, `532.js` → ``,
/// `views.py` → `views`.
fn strip_file_name(basename: &str) -> String {
    let mut kept = String::with_capacity(basename.len());
    for token in basename.split('.') {
        if token.is_empty()
            || SOURCE_EXTENSIONS.contains(&token)
            || BUNDLE_WORDS.contains(&token)
            || is_variable_token(token)
        {
            continue;
        }
        let token = strip_dash_hash(token);
        if token.is_empty() || is_variable_token(token) {
            continue;
        }
        if !kept.is_empty() {
            kept.push('.');
        }
        kept.push_str(token);
    }
    kept
}

/// Vite/Rollup append `-<8 chars of base64url>` to file names: `index-BfK3x9aZ` → `index`.
fn strip_dash_hash(token: &str) -> &str {
    match token.rfind('-') {
        Some(dash) if looks_like_bundle_hash(&token[dash + 1..]) => &token[..dash],
        _ => token,
    }
}

fn looks_like_bundle_hash(text: &str) -> bool {
    let length_fits = (6..=12).contains(&text.len());
    let alphabet_fits = text
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_');
    if !length_fits || !alphabet_fits {
        return false;
    }
    let has_digit = text.bytes().any(|byte| byte.is_ascii_digit());
    let has_inner_upper = text.bytes().skip(1).any(|byte| byte.is_ascii_uppercase());
    let has_lower = text.bytes().any(|byte| byte.is_ascii_lowercase());
    has_digit || (has_inner_upper && has_lower)
}

/// `rack-2.2.8` → `rack`, `pq@v1.10.9` → `pq`, `tokio-1.35.0` → `tokio`.
fn strip_version_suffix(segment: &str) -> &str {
    if let Some(at) = segment.find('@') {
        if at > 0 {
            return &segment[..at];
        }
    }
    match segment.rfind('-') {
        Some(dash) if is_version(&segment[dash + 1..]) => &segment[..dash],
        _ => segment,
    }
}

/// `1.2.3`, `v10.4`, `2.0.0-rc1`: digits and dots, optionally `v`-prefixed.
fn is_version(text: &str) -> bool {
    let bytes = text.strip_prefix('v').unwrap_or(text).as_bytes();
    if !bytes.first().is_some_and(u8::is_ascii_digit) {
        return false;
    }
    let core_length = bytes
        .iter()
        .position(|&byte| byte == b'-' || byte == b'+')
        .unwrap_or(bytes.len());
    let core = &bytes[..core_length];
    core.contains(&b'.')
        && core
            .iter()
            .all(|&byte| byte.is_ascii_digit() || byte == b'.')
}

/// A path segment or name token that changes between builds or deploys: numbers (chunk ids,
/// release timestamps), hex hashes, UUIDs, versions.
fn is_variable_token(token: &str) -> bool {
    if !token.bytes().any(|byte| byte.is_ascii_digit()) {
        return false;
    }
    if token.bytes().all(|byte| byte.is_ascii_digit()) {
        return true;
    }
    if is_version(token) {
        return true;
    }
    let hex_like = token
        .bytes()
        .all(|byte| byte.is_ascii_hexdigit() || byte == b'-');
    let digits = token.bytes().filter(u8::is_ascii_digit).count();
    hex_like && token.len() >= 7 && digits > 0
}

/// Module names with `.`/`:`/`/` separators, versions and hashes removed from each part.
fn strip_versions_and_hashes_in_module(module: &str) -> Cow<'_, str> {
    // Only a part with a digit can hold a version or a hash, and most modules
    // (`app.services.billing`) have neither a digit nor an assembly suffix (`, Version=...`):
    // one scan finds the first of either. Digits, commas and separators are ASCII, so every
    // index found is a char boundary.
    let first_digit = match module
        .bytes()
        .position(|byte| byte.is_ascii_digit() || byte == b',')
    {
        None => return Cow::Borrowed(trim(module)),
        Some(comma) if module.as_bytes()[comma] == b',' => {
            return Cow::Borrowed(trim(&module[..comma]));
        }
        Some(digit) => digit,
    };
    // As `strip_assembly_version`, knowing there is no comma before the digit; the digit is
    // not whitespace, so trimming moves it left by exactly the leading whitespace.
    let assembly_end = module.as_bytes()[first_digit..]
        .iter()
        .position(|&byte| byte == b',')
        .map_or(module.len(), |comma| first_digit + comma);
    // Callers mostly pass trimmed names: no `trim_start` (a call, by characters) for those.
    let leading_whitespace = if module.as_bytes()[0].is_ascii_graphic() {
        0
    } else {
        module.len() - module.trim_start().len()
    };
    let module = trim(&module[..assembly_end]);
    let bytes = module.as_bytes();

    // Jump from digit to digit, normalize the part around each, and copy the module only when
    // a part changes.
    let is_separator = |byte: &u8| matches!(byte, b'.' | b':' | b'/');
    let mut normalized: Option<String> = None;
    let mut copied_until = 0;
    let mut previous_part_end = 0;
    let mut search_from = first_digit - leading_whitespace;
    while let Some(offset) = bytes[search_from..].iter().position(u8::is_ascii_digit) {
        let digit = search_from + offset;
        let part_start = bytes[previous_part_end..digit]
            .iter()
            .rposition(is_separator)
            .map_or(previous_part_end, |separator| {
                previous_part_end + separator + 1
            });
        let part_end = bytes[digit..]
            .iter()
            .position(is_separator)
            .map_or(bytes.len(), |separator| digit + separator);
        let part = &module[part_start..part_end];
        let kept = normalize_module_part(part);
        if kept.len() != part.len() {
            let normalized = normalized.get_or_insert_with(|| String::with_capacity(module.len()));
            normalized.push_str(&module[copied_until..part_start]);
            normalized.push_str(kept);
            copied_until = part_end;
        }
        previous_part_end = part_end;
        search_from = part_end;
    }
    match normalized {
        Some(mut normalized) => {
            normalized.push_str(&module[copied_until..]);
            Cow::Owned(normalized)
        }
        None => Cow::Borrowed(module),
    }
}

/// One part of a module name without its version or build hash; empty when the whole part is
/// variable.
fn normalize_module_part(part: &str) -> &str {
    let (mut has_separator, mut has_digit, mut has_dot) = (false, false, false);
    let (mut all_digits, mut all_hex) = (true, true);
    for byte in part.bytes() {
        has_separator |= byte == b'@' || byte == b'-';
        has_dot |= byte == b'.';
        has_digit |= byte.is_ascii_digit();
        all_digits &= byte.is_ascii_digit();
        all_hex &= byte.is_ascii_hexdigit();
    }
    if !has_digit {
        // Versions, hashes and numbers all have digits: nothing to strip.
        return part;
    }
    if !has_separator && !has_dot {
        // The common case (`step3`, `v2`), decided from the same scan: without `@`, `-` or `.`
        // there is no version suffix to strip and `is_variable_token` can only find a number
        // or a hex hash of 7+ digits.
        return if all_digits || (all_hex && part.len() >= 7) {
            ""
        } else {
            part
        };
    }
    let part = if has_separator {
        strip_dash_hash(strip_version_suffix(part))
    } else {
        part
    };
    if is_variable_token(part) {
        ""
    } else {
        part
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The straightforward module normalization the scanner in
    /// [`strip_versions_and_hashes_in_module`] replaced: every part normalized, then joined.
    /// Kept as the oracle the scanner must agree with byte for byte.
    fn module_reference(module: &str) -> String {
        let module = module.split(',').next().unwrap_or(module).trim();
        let mut normalized = String::with_capacity(module.len());
        let mut last = 0;
        for (index, character) in module.char_indices() {
            if matches!(character, '.' | ':' | '/') {
                normalized.push_str(normalize_module_part(&module[last..index]));
                normalized.push(character);
                last = index + 1;
            }
        }
        normalized.push_str(normalize_module_part(&module[last..]));
        normalized
    }

    /// `normalize_module_part` before its single-scan shortcut, the oracle of that shortcut.
    fn module_part_reference(part: &str) -> &str {
        if !part.bytes().any(|byte| byte.is_ascii_digit()) {
            return part;
        }
        let part = if part.bytes().any(|byte| byte == b'@' || byte == b'-') {
            strip_dash_hash(strip_version_suffix(part))
        } else {
            part
        };
        if is_variable_token(part) {
            ""
        } else {
            part
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        #[test]
        fn module_part_shortcut_agrees_with_reference(
            part in "[a-zA-Z0-9@+_$.-]{0,16}|[0-9a-fA-F]{0,12}|v?[0-9]{1,3}(\\.[0-9]{1,3}){0,2}(-rc[0-9])?|\\PC{0,12}",
        ) {
            proptest::prop_assert_eq!(normalize_module_part(&part), module_part_reference(&part));
        }

        #[test]
        fn module_scanner_agrees_with_reference(
            module in "[ \\ta-zA-Z0-9.:/,@_+$-]{0,40}|\\PC{0,30}|(  ?[a-z0-9@.-]{0,6}[.:/]){0,5}(, ?Version=1.2)?",
        ) {
            proptest::prop_assert_eq!(
                strip_versions_and_hashes_in_module(&module),
                module_reference(&module)
            );
        }
    }

    fn normalized(platform: FramePlatform, module: Option<&str>, function: &str) -> String {
        let frame = Frame {
            module: module.map(str::to_owned),
            function: Some(function.to_owned()),
            ..Frame::default()
        };
        normalize_frame(&frame, platform)
            .map(|frame| frame.key())
            .unwrap_or_else(|skip| format!("<skipped: {}>", skip.as_str()))
    }

    fn from_path(platform: FramePlatform, filename: &str, function: &str) -> String {
        let frame = Frame {
            filename: Some(filename.to_owned()),
            function: Some(function.to_owned()),
            ..Frame::default()
        };
        normalize_frame(&frame, platform)
            .map(|frame| frame.key())
            .unwrap_or_else(|skip| format!("<skipped: {}>", skip.as_str()))
    }

    #[test]
    fn java_generated_names() {
        let java = FramePlatform::Java;
        assert_eq!(
            normalized(java, Some("com.acme.OrderService"), "lambda$placeOrder$3"),
            "com.acme.OrderService in lambda$placeOrder"
        );
        assert_eq!(
            normalized(
                java,
                Some("com.acme.OrderService$$EnhancerBySpringCGLIB$$8f3b2c1a"),
                "placeOrder"
            ),
            "com.acme.OrderService in placeOrder"
        );
        assert_eq!(
            normalized(java, Some("com.acme.Dao_$$_jvst4a1_7"), "find"),
            "com.acme.Dao in find"
        );
        assert_eq!(
            normalized(
                java,
                Some("com.acme.Web$$Lambda$1234/0x0000000800c02040"),
                "apply"
            ),
            "com.acme.Web$$Lambda in apply"
        );
        assert_eq!(
            normalized(
                java,
                Some("jdk.internal.reflect.GeneratedMethodAccessor87"),
                "invoke"
            ),
            "jdk.internal.reflect.GeneratedMethodAccessor in invoke"
        );
        assert_eq!(
            normalized(java, Some("com.acme.Outer$2"), "run"),
            "com.acme.Outer$ in run"
        );
        assert_eq!(
            normalized(java, Some("jdk.proxy2.$Proxy145"), "save"),
            "jdk.proxy.$Proxy in save"
        );
    }

    #[test]
    fn go_closures() {
        let go = FramePlatform::Go;
        assert_eq!(
            normalized(
                go,
                Some("github.com/acme/shop/orders"),
                "(*Service).Place.func2.1"
            ),
            "github.com/acme/shop/orders in (*Service).Place"
        );
        assert_eq!(normalized(go, Some("main"), "glob..func1"), "main in glob");
        assert_eq!(
            normalized(go, Some("github.com/acme/shop/v2/cache"), "Map[...].Get"),
            "github.com/acme/shop/v2/cache in Map.Get"
        );
    }

    #[test]
    fn rust_hashes_and_closures() {
        let rust = FramePlatform::Native;
        assert_eq!(
            normalized(rust, None, "shop::orders::place::h0123456789abcdef"),
            "shop::orders::place"
        );
        assert_eq!(
            normalized(rust, None, "shop::run::{closure#1}"),
            "shop::run::{closure}"
        );
        assert_eq!(
            normalized(rust, None, "0x7ffd1234abcd"),
            "<skipped: no stable module or function>"
        );
    }

    #[test]
    fn ruby_blocks_and_templates() {
        let ruby = FramePlatform::Ruby;
        assert_eq!(
            from_path(ruby, "app/models/order.rb", "block (2 levels) in process"),
            "app/models/order in process"
        );
        assert_eq!(
            from_path(
                ruby,
                "/srv/releases/20240102101010/app/views/orders/show.html.erb",
                "_app_views_orders_show_html_erb__3528840932_78340"
            ),
            "views/orders/show.html.erb in _app_views_orders_show_html_erb"
        );
        assert_eq!(
            from_path(
                ruby,
                "/usr/local/bundle/gems/activerecord-7.1.2/lib/active_record/base.rb",
                "rescue in save"
            ),
            "lib/active_record/base in save"
        );
    }

    #[test]
    fn dotnet_state_machines_and_lambdas() {
        let dotnet = FramePlatform::DotNet;
        assert_eq!(
            normalized(
                dotnet,
                Some("Shop.Orders.OrderService+<PlaceOrderAsync>d__5"),
                "MoveNext"
            ),
            "Shop.Orders.OrderService in PlaceOrderAsync"
        );
        assert_eq!(
            normalized(
                dotnet,
                Some("Shop.Orders.OrderService+<>c__DisplayClass3_0"),
                "<Handle>b__0"
            ),
            "Shop.Orders.OrderService in Handle.lambda"
        );
        assert_eq!(
            normalized(
                dotnet,
                None,
                "Shop.Program.<Main>g__Local|0_0(String[] args)"
            ),
            "Shop.Program in Main.Local"
        );
    }

    #[test]
    fn javascript_bundles_and_anonymous_functions() {
        let js = FramePlatform::JavaScript;
        assert_eq!(
            from_path(
                js,
                "https://cdn.acme.com/static/js/main.3f2a1b9c.chunk.js?v=2",
                "async CheckoutForm.submit [as onSubmit]"
            ),
            "static/js/main in CheckoutForm.submit"
        );
        assert_eq!(
            from_path(js, "app:///assets/index-BfK3x9aZ.js", "<anonymous>"),
            "assets/index"
        );
        assert_eq!(
            from_path(
                js,
                "https://acme.com/_next/static/chunks/532.a1b2c3d4e5.js",
                "t.n"
            ),
            "<skipped: no stable module or function>"
        );
        assert_eq!(
            from_path(
                js,
                "/app/node_modules/.pnpm/react-dom@18.2.0/node_modules/react-dom/cjs/react-dom.development.js",
                "commitRoot"
            ),
            "react-dom/cjs/react-dom.development in commitRoot"
        );
    }

    #[test]
    fn php_anonymous_classes() {
        assert_eq!(
            from_path(
                FramePlatform::Php,
                "/var/www/releases/42/src/Handler.php",
                "class@anonymous/var/www/releases/42/src/Handler.php:12$0::handle"
            ),
            "releases/src/Handler in class@anonymous::handle"
        );
        assert_eq!(
            from_path(
                FramePlatform::Php,
                "/var/www/releases/42/src/Handler.php",
                "App\\Http\\Controllers\\OrderController::show"
            ),
            "App\\Http\\Controllers\\OrderController::show"
        );
    }
}
