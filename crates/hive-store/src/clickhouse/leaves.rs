//! Patches and documents flattened to leaf writes, and the last-writer-wins
//! rule that makes them combine exactly like [`hive_core::merge::fold`].
//!
//! A leaf write is a path (segments joined by `.`, with `\` and `.` inside a
//! segment escaped as `\\` and `\.`), a type and a value. An RFC 7396 patch
//! becomes one write per leaf: a scalar or an array replaces, `null`
//! deletes, `{}` makes an (empty) object. Writes combine per path, last
//! writer wins, with one extra rule: a later scalar, array or `null` at a
//! path clears every earlier write below it, and a later write below a
//! path turns an earlier scalar there into an object. [`resolve`] implements
//! it in Rust (for the property test that holds it equal to `fold`); the
//! store's SQL implements the same rule per path with `argMax`.
//!
//! Arrays are leaves, but filters look inside them (`tags.1`): their
//! elements are also written as *derived* leaves (type + [`DERIVED`]) that
//! answer lookups and never count as writes. Content's arrays
//! ([`is_content`]) are not derived (schema 8).

use serde_json::{Map, Value};

use hive_core::model::Event;
use hive_core::time::parse_datetime_ms;

/// `null` in a patch: deletes the key (a null inside a document base is
/// [`PRESENT_NULL`]).
pub const NULL: u8 = 0;
pub const STR: u8 = 1;
pub const NUM: u8 = 2;
pub const BOOL: u8 = 3;
/// An array (its JSON text in `s`).
pub const ARR: u8 = 4;
/// An object: `{}` written, or (derived) an object inside an array (its
/// JSON text in `s`).
pub const OBJ: u8 = 5;
/// A string that reads as a date (its epoch milliseconds in `n`).
pub const STR_DATE: u8 = 6;
/// A key present with the value `null` in a document base.
pub const PRESENT_NULL: u8 = 7;
/// Added to the type of a leaf inside an array.
pub const DERIVED: u8 = 16;

/// Derived leaves kept per row at most; a row that has more is marked lossy
/// (filters inside its arrays are then checked on the folded document).
pub const MAX_DERIVED: usize = 256;
const MAX_DERIVED_DEPTH: usize = 8;

/// One leaf write.
#[derive(Debug, Clone, PartialEq)]
pub struct Leaf {
    pub path: String,
    pub ty: u8,
    pub s: String,
    pub n: f64,
}

/// The leaves of a row, and whether derived leaves were left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Leaves {
    pub leaves: Vec<Leaf>,
    pub lossy: bool,
}

/// The top-level keys that hold an event's content (prompts, messages,
/// completions): their leaves are stored in columns of their own (schema
/// 8, ADR 0018), so reads that need none of them never decompress them.
pub const CONTENT: [&str; 2] = ["inputs", "outputs"];

/// Whether the leaf at `path` is content: at or below a key of
/// [`CONTENT`] (an escaped `.` inside the top-level key, as in
/// `inputs\.x`, is another key).
pub fn is_content(path: &str) -> bool {
    CONTENT.iter().any(|c| {
        path.strip_prefix(c)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    })
}

/// A row's leaves back in their written order, from the leaves stored
/// apart: `main` (in order), and `content` (in order) with `at`, the
/// place each content leaf had among all. Places out of order or out of
/// range (which no writer makes) put the leaf where it then fits.
pub fn interleave(main: Vec<Leaf>, content: Vec<Leaf>, at: &[u32]) -> Vec<Leaf> {
    let mut out = Vec::with_capacity(main.len() + content.len());
    let mut main = main.into_iter();
    let mut content = content
        .into_iter()
        .zip(
            at.iter()
                .map(|&a| a as usize)
                .chain(std::iter::repeat(usize::MAX)),
        )
        .peekable();
    loop {
        let here = out.len();
        match content.next_if(|(_, a)| *a <= here) {
            Some((l, _)) => out.push(l),
            None => match main.next() {
                Some(l) => out.push(l),
                None => {
                    out.extend(content.map(|(l, _)| l));
                    return out;
                }
            },
        }
    }
}

/// Escape one key for a path.
pub fn escape(seg: &str) -> String {
    if !seg.contains(['\\', '.']) {
        return seg.to_owned();
    }
    let mut out = String::with_capacity(seg.len() + 2);
    for c in seg.chars() {
        if c == '\\' || c == '.' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The keys of an escaped path.
pub fn segments(path: &str) -> Vec<String> {
    if !path.contains('\\') {
        return path.split('.').map(str::to_owned).collect();
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '.' => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// The path of `key` below `prefix` (`None`: the document's root). The
/// root is not the empty path: that is the path of a top-level key `""`,
/// whose children are `.child` (the fuzz target merge_fold found `{"":
/// {"x": 1}}` flattened as `{"x": 1}`).
fn join(prefix: Option<&str>, key: &str) -> String {
    match prefix {
        None => escape(key),
        Some(prefix) => format!("{prefix}.{}", escape(key)),
    }
}

/// A scalar or array leaf.
fn value_leaf(path: String, v: &Value, derived: bool) -> Leaf {
    let d = if derived { DERIVED } else { 0 };
    match v {
        Value::Null => Leaf {
            path,
            ty: if derived { DERIVED } else { PRESENT_NULL },
            s: String::new(),
            n: 0.0,
        },
        Value::String(s) => match parse_datetime_ms(s) {
            Some(ms) if ms.is_finite() => Leaf {
                path,
                ty: STR_DATE + d,
                s: s.clone(),
                n: ms,
            },
            _ => Leaf {
                path,
                ty: STR + d,
                s: s.clone(),
                n: 0.0,
            },
        },
        Value::Number(num) => Leaf {
            path,
            ty: NUM + d,
            s: num.to_string(),
            n: num.as_f64().unwrap_or(0.0),
        },
        Value::Bool(b) => Leaf {
            path,
            ty: BOOL + d,
            s: b.to_string(),
            n: f64::from(u8::from(*b)),
        },
        Value::Array(_) => Leaf {
            path,
            ty: ARR + d,
            s: v.to_string(),
            n: 0.0,
        },
        Value::Object(_) => Leaf {
            path,
            ty: OBJ + d,
            s: if derived {
                v.to_string()
            } else {
                String::new()
            },
            n: 0.0,
        },
    }
}

/// Derived leaves for what lies inside an array (or an object inside one).
fn derive(prefix: &str, v: &Value, out: &mut Leaves, depth: usize, budget: &mut usize) {
    let children: Vec<(String, &Value)> = match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| (join(Some(prefix), &i.to_string()), item))
            .collect(),
        Value::Object(m) => m
            .iter()
            .map(|(k, item)| (join(Some(prefix), k), item))
            .collect(),
        _ => return,
    };
    for (path, item) in children {
        if *budget == 0 || depth > MAX_DERIVED_DEPTH {
            out.lossy = true;
            return;
        }
        *budget -= 1;
        out.leaves.push(value_leaf(path.clone(), item, true));
        if item.is_array() || item.is_object() {
            derive(&path, item, out, depth + 1, budget);
        }
    }
}

/// The leaf writes of a patch (an object), or of a document base
/// (`base`: a `null` value is a key present with `null`).
pub fn flatten(v: &Value, base: bool) -> Leaves {
    let mut out = Leaves::default();
    let mut budget = MAX_DERIVED;
    if let Value::Object(m) = v {
        walk(m, None, base, &mut out, &mut budget);
    }
    out
}

/// [`flatten`]`(&event.to_json(), true)`, and whether [`spelt`] holds for
/// that document, without making it: its namespaces (the last of its
/// fields, and most of its size) are walked where they lie, not copied
/// into a document first.
pub fn flatten_event(e: &Event) -> (Leaves, bool) {
    // The fields before the namespaces, as `to_json` writes them.
    let head = serde_json::json!({
        "event_id": e.event_id,
        "session_id": e.session_id,
        "parent_id": e.parent_id,
        "children_ids": e.children_ids,
        "project_id": e.project_id,
        "source": e.source,
        "event_type": e.event_type,
        "event_name": e.event_name,
        "start_time": e.start_time,
        "end_time": e.end_time,
        "duration": e.duration,
        "error": e.error,
    });
    let mut out = Leaves::default();
    let mut budget = MAX_DERIVED;
    let mut exact = spelt(&head);
    if let Value::Object(head) = &head {
        walk(head, None, true, &mut out, &mut budget);
    }
    for (key, m) in e.namespaces() {
        if m.is_empty() {
            out.leaves.push(value_leaf(
                key.to_owned(),
                &Value::Object(Map::new()),
                false,
            ));
        } else {
            walk(m, Some(key), true, &mut out, &mut budget);
        }
        exact = exact && m.values().all(spelt);
    }
    (out, exact)
}

fn walk(
    m: &Map<String, Value>,
    prefix: Option<&str>,
    base: bool,
    out: &mut Leaves,
    budget: &mut usize,
) {
    for (k, v) in m {
        let path = join(prefix, k);
        match v {
            Value::Object(child) if !child.is_empty() => {
                walk(child, Some(&path), base, out, budget)
            }
            Value::Null if !base => out.leaves.push(Leaf {
                path,
                ty: NULL,
                s: String::new(),
                n: 0.0,
            }),
            Value::Array(_) => {
                out.leaves.push(value_leaf(path.clone(), v, false));
                // Content's arrays (a chat's messages) are not derived:
                // their elements would repeat the text two more times, and
                // only the SQL of filters reads derived leaves, which
                // leaves paths inside them to the folded documents.
                if !is_content(&path) {
                    derive(&path, v, out, 0, budget);
                }
            }
            _ => out.leaves.push(value_leaf(path, v, false)),
        }
    }
}

/// Whether `a` is a proper prefix (ancestor) of `b`.
pub fn is_ancestor(a: &str, b: &str) -> bool {
    b.len() > a.len() && b.starts_with(a) && b.as_bytes()[a.len()] == b'.' && {
        // The '.' must be a separator, not an escaped one: count the
        // backslashes that end `a`.
        let trailing = a.bytes().rev().take_while(|&c| c == b'\\').count();
        trailing % 2 == 0
    }
}

fn terminal(ty: u8) -> bool {
    ty != OBJ
}

/// The document that writes (in order) leave, by the last-writer-wins rule
/// with "clears below". Derived leaves are ignored.
pub fn resolve<'a>(writes: impl IntoIterator<Item = &'a Leaf>) -> Value {
    let writes: Vec<&Leaf> = writes.into_iter().filter(|l| l.ty < DERIVED).collect();
    let mut doc = Value::Object(Map::new());
    for (i, w) in writes.iter().enumerate() {
        let cleared = writes[i + 1..].iter().any(|y| {
            y.path == w.path
                || (is_ancestor(&y.path, &w.path) && terminal(y.ty))
                || (is_ancestor(&w.path, &y.path) && terminal(w.ty))
        });
        if !cleared {
            place(&mut doc, w);
        }
    }
    doc
}

/// The document a base's leaves spell, in their order (a base has no leaf
/// below another, so nothing clears anything). Derived leaves are ignored.
pub fn rebuild<'a>(leaves: impl IntoIterator<Item = &'a Leaf>) -> Value {
    let mut doc = Value::Object(Map::new());
    for l in leaves.into_iter().filter(|l| l.ty < DERIVED) {
        place(&mut doc, l);
    }
    doc
}

/// Whether [`rebuild`] gives `doc` back to the byte ([`same_text`]) from
/// its leaves as a base ([`flatten`]), found without rebuilding it. The
/// leaves keep the keys (escaped, then split back) in their order, and
/// strings, booleans, nulls and empty objects as they are; what can come
/// back otherwise is a number its text does not give back (`serde_json`
/// reads some fractions a bit off), on its own or inside an array (whose
/// text is parsed back whole), and an array nested deeper than the parser
/// reads.
pub fn spelt(doc: &Value) -> bool {
    match doc {
        Value::Object(m) => m.values().all(spelt),
        Value::Number(_) => same_text(&json_of(NUM, &doc.to_string()), doc),
        Value::Array(_) => parsed_back(doc, 0),
        _ => true,
    }
}

/// Whether `v`, inside an array `depth` deep, reads back from its text
/// (`serde_json` stops at 128 levels).
fn parsed_back(v: &Value, depth: usize) -> bool {
    match v {
        _ if depth > 100 => false,
        Value::Array(items) => items.iter().all(|x| parsed_back(x, depth + 1)),
        Value::Object(m) => m.values().all(|x| parsed_back(x, depth + 1)),
        Value::Number(_) => same_text(
            &serde_json::from_str(&v.to_string()).unwrap_or(Value::Null),
            v,
        ),
        _ => true,
    }
}

/// Whether `a` and `b` serialise to the same JSON text: equal values with
/// their keys in the same order and their numbers of the same kind and bits
/// (`Value`'s own equality ignores key order and takes `0.0` for `-0.0`).
pub fn same_text(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && same_text(va, vb))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(va, vb)| same_text(va, vb))
        }
        (Value::Number(x), Value::Number(y)) => {
            x.as_u64() == y.as_u64()
                && x.as_i64() == y.as_i64()
                && x.is_f64() == y.is_f64()
                && x.as_f64().map(f64::to_bits) == y.as_f64().map(f64::to_bits)
        }
        _ => a == b,
    }
}

/// [`rebuild`] from leaves given as the keys of their path, their type
/// and their text (a read that knows its paths' keys already).
pub fn rebuild_parts<'a>(leaves: impl IntoIterator<Item = (&'a [String], u8, String)>) -> Value {
    // An event's top-level keys are about this many.
    let mut doc = Value::Object(Map::with_capacity(16));
    for (keys, ty, s) in leaves {
        if ty < DERIVED {
            place_at(&mut doc, keys, ty, s);
        }
    }
    doc
}

/// Put a surviving write into the document: its ancestors become objects.
fn place(doc: &mut Value, w: &Leaf) {
    place_at(doc, &segments(&w.path), w.ty, w.s.clone());
}

/// [`place`] a write of type `ty` and text `s` at the path of `keys`.
fn place_at(doc: &mut Value, keys: &[String], ty: u8, s: String) {
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    let mut node = doc;
    for seg in parents {
        let Value::Object(m) = node else { return };
        if !m.contains_key(seg.as_str()) {
            m.insert(seg.clone(), Value::Object(Map::new()));
        }
        let child = m.get_mut(seg.as_str()).expect("present");
        if !child.is_object() {
            *child = Value::Object(Map::new());
        }
        node = child;
    }
    let Value::Object(m) = node else { return };
    match ty {
        NULL => {
            m.remove(last.as_str());
        }
        PRESENT_NULL => {
            m.insert(last.clone(), Value::Null);
        }
        OBJ => match m.get_mut(last.as_str()) {
            Some(e) if e.is_object() => {}
            Some(e) => *e = Value::Object(Map::new()),
            None => {
                m.insert(last.clone(), Value::Object(Map::new()));
            }
        },
        STR | STR_DATE => {
            m.insert(last.clone(), Value::String(s));
        }
        _ => {
            // Numbers, booleans and arrays keep their JSON text.
            m.insert(last.clone(), json_of(ty, &s));
        }
    }
}

/// The value of a number's, a boolean's or an array's JSON text, as
/// `serde_json` reads it (integers, the common case, without its parser).
fn json_of(ty: u8, s: &str) -> Value {
    match ty {
        NUM if !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_digit())
            && (s == "0" || !s.starts_with('0')) =>
        {
            s.parse::<u64>().map_or_else(
                |_| serde_json::from_str(s).unwrap_or(Value::Null),
                Value::from,
            )
        }
        BOOL if s == "true" => Value::Bool(true),
        BOOL if s == "false" => Value::Bool(false),
        _ => serde_json::from_str(s).unwrap_or(Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hive_core::merge::fold;
    use proptest::prelude::*;
    use serde_json::json;

    /// Key order, number kinds and the sign of zero tell texts apart.
    #[test]
    fn same_text_sees_what_serialises_apart() {
        let t = |a: Value, b: Value| same_text(&a, &b);
        assert!(t(
            json!({"a": 1, "b": [1.5, "x", null]}),
            json!({"a": 1, "b": [1.5, "x", null]})
        ));
        assert!(!t(json!({"a": 1, "b": 2}), json!({"b": 2, "a": 1})));
        assert!(!t(json!({"a": 1}), json!({"a": 1.0})));
        assert!(!t(json!({"a": 0.0}), json!({"a": -0.0})));
        assert!(!t(json!({"a": -1}), json!({"a": 18446744073709551615u64})));
        assert!(!t(json!({"a": [1]}), json!({"a": [1, 2]})));
        assert!(!t(json!({"a": {}}), json!({"a": null})));
    }

    /// Scalars of every kind: any float (which `serde_json` may read back
    /// a bit off), integers at the ends of their types, dates, texts with
    /// the characters paths escape.
    fn any_scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            (-1e3f64..1e3).prop_map(|f| json!(f)),
            "[a.\\\\\"]{0,3}".prop_map(Value::from),
            Just(json!("2024-01-02T00:00:00Z")),
        ]
    }

    fn any_value() -> impl Strategy<Value = Value> {
        any_scalar().prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(prop_oneof![key(), Just(String::new())], inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// `spelt` says what rebuilding the leaves and comparing says.
        #[test]
        fn spelt_is_rebuilt_to_the_byte(
            m in prop::collection::btree_map(prop_oneof![key(), Just(String::new())], any_value(), 0..5)
        ) {
            let doc = Value::Object(m.into_iter().collect());
            let rebuilt = same_text(&rebuild(&flatten(&doc, true).leaves), &doc);
            prop_assert_eq!(spelt(&doc), rebuilt, "{}", doc);
        }
    }

    fn namespace() -> impl Strategy<Value = Map<String, Value>> {
        prop::collection::btree_map(prop_oneof![key(), Just(String::new())], any_value(), 0..4)
            .prop_map(|m| m.into_iter().collect())
    }

    fn any_event() -> impl Strategy<Value = Event> {
        let ids = "[a-c.]{0,3}";
        (
            (
                ids,
                ids,
                prop::option::of(ids),
                prop::collection::vec(ids, 0..3),
            ),
            (
                any::<i64>(),
                any::<i64>(),
                any::<f64>(),
                prop::option::of(ids),
            ),
            (namespace(), namespace(), namespace(), namespace()),
            (namespace(), namespace(), namespace()),
        )
            .prop_map(
                |(
                    (id, session, parent, children),
                    (start, end, duration, error),
                    (i, o, c, m),
                    (x, f, u),
                )| Event {
                    event_id: id,
                    session_id: session,
                    parent_id: parent,
                    children_ids: children,
                    project_id: "p".into(),
                    source: "s".into(),
                    event_type: "model".into(),
                    event_name: "n".into(),
                    start_time: start,
                    end_time: end,
                    duration,
                    error,
                    inputs: i,
                    outputs: o,
                    config: c,
                    metadata: m,
                    metrics: x,
                    feedback: f,
                    user_properties: u,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        /// An event's leaves, and whether they spell it, are its document's.
        #[test]
        fn an_event_flattens_as_its_document(e in any_event()) {
            let doc = e.to_json();
            let (leaves, exact) = flatten_event(&e);
            prop_assert_eq!(&leaves, &flatten(&doc, true));
            prop_assert_eq!(exact, spelt(&doc));
        }
    }

    /// Fractions `serde_json` reads a bit off, and arrays nested past what
    /// it reads, are not spelt by their leaves.
    #[test]
    fn what_the_leaves_do_not_spell() {
        let off = (1..10_000u64)
            .map(|i| json!(i as f64 * 0.1 + 1e-7 * i as f64))
            .find(|v| serde_json::from_str::<Value>(&v.to_string()).ok().as_ref() != Some(v));
        let v = off.expect("a fraction serde_json reads back a bit off");
        let doc = json!({"a": v.clone()});
        assert!(!spelt(&doc));
        assert!(!same_text(&rebuild(&flatten(&doc, true).leaves), &doc));
        let doc = json!({"a": [v]});
        assert!(!spelt(&doc));
        assert!(!same_text(&rebuild(&flatten(&doc, true).leaves), &doc));
        let mut deep = json!(1);
        for _ in 0..200 {
            deep = json!([deep]);
        }
        let doc = json!({"a": deep});
        assert!(!spelt(&doc));
        assert!(!same_text(&rebuild(&flatten(&doc, true).leaves), &doc));
        let doc = json!({"a.b": {"": [1, {"c\\": 2.5}], "d": {}}, "e": null});
        assert!(spelt(&doc));
        assert!(same_text(&rebuild(&flatten(&doc, true).leaves), &doc));
    }

    /// Numbers and booleans read back as `serde_json` reads their text.
    #[test]
    fn leaf_texts_read_as_json() {
        for (ty, text) in [
            (NUM, "0"),
            (NUM, "42"),
            (NUM, "007"),
            (NUM, "18446744073709551615"),
            (NUM, "18446744073709551616"),
            (NUM, "-3"),
            (NUM, "2.50"),
            (NUM, "1e3"),
            (NUM, ""),
            (BOOL, "true"),
            (BOOL, "false"),
            (ARR, "[1,\"a\"]"),
        ] {
            assert_eq!(
                json_of(ty, text),
                serde_json::from_str::<Value>(text).unwrap_or(Value::Null),
                "{text}"
            );
        }
    }

    #[test]
    fn paths_escape_and_split() {
        for key in ["a", "a.b", "a\\", "\\.", "", "é.x\\y"] {
            let p = join(Some("metadata"), key);
            assert_eq!(segments(&p), vec!["metadata".to_owned(), key.to_owned()]);
        }
        assert!(is_ancestor("a", "a.b"));
        assert!(!is_ancestor("a", "ab"));
        assert!(!is_ancestor("a", "a\\.b"));
        assert!(is_ancestor("a\\\\", "a\\\\.b"));
    }

    #[test]
    fn rfc7396_cases_through_leaves() {
        let cases = [
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
            ),
            (json!({"a": 5}), json!({"a": {"bb": {"ccc": null}}})),
            (json!({"a": [1]}), json!({"a": {}})),
            (json!({"a": {"x": 1}}), json!({"a": {}})),
            (json!({"e": null}), json!({"a": 1})),
        ];
        for (base, patch) in cases {
            let mut writes = flatten(&base, true).leaves;
            writes.extend(flatten(&patch, false).leaves);
            assert_eq!(
                resolve(&writes),
                fold(base.clone(), [&patch]),
                "{base} {patch}"
            );
        }
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-5i64..5).prop_map(Value::from),
            (-5.0f64..5.0).prop_map(|f| json!((f * 4.0).round() / 4.0)),
            "[a-c]{0,2}".prop_map(Value::from),
            Just(json!("2024-01-02T00:00:00Z")),
            prop::collection::vec((0i64..3).prop_map(Value::from), 0..3).prop_map(Value::from),
        ]
    }

    /// Keys from a small alphabet (with `.` and `\` to test escaping), so
    /// patches collide often.
    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a".to_owned()),
            Just("b".to_owned()),
            Just("a.b".to_owned()),
            Just("c\\".to_owned()),
            Just("0".to_owned()),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(3, 24, 4, |inner| {
            prop::collection::btree_map(key(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect()))
        })
    }

    /// Objects of fewer than `most` of these keys.
    fn object(keys: impl Strategy<Value = String>, most: usize) -> impl Strategy<Value = Value> {
        prop::collection::btree_map(keys, value(), 0..most)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    fn patch() -> impl Strategy<Value = Value> {
        object(key(), 4)
    }

    fn base() -> impl Strategy<Value = Value> {
        // A base has no nulls to delete with, but may hold null values.
        patch()
    }

    #[test]
    fn content_is_inputs_and_outputs_and_below() {
        for p in [
            "inputs",
            "inputs.chat_history",
            "outputs.content",
            "outputs.0",
        ] {
            assert!(is_content(p), "{p}");
        }
        for p in [
            "input",
            "inputsx",
            "inputs\\.x",
            "inputs\\",
            "metadata.inputs",
            "output",
        ] {
            assert!(!is_content(p), "{p}");
        }
    }

    /// Content stored apart reads back in the order it was written.
    fn split(leaves: &[Leaf]) -> (Vec<Leaf>, Vec<Leaf>, Vec<u32>) {
        let (mut main, mut content, mut at) = (Vec::new(), Vec::new(), Vec::new());
        for (i, l) in leaves.iter().enumerate() {
            if is_content(&l.path) {
                content.push(l.clone());
                at.push(i as u32);
            } else {
                main.push(l.clone());
            }
        }
        (main, content, at)
    }

    #[test]
    fn interleave_tolerates_places_no_writer_makes() {
        let leaf = |p: &str| Leaf {
            path: p.to_owned(),
            ty: STR,
            s: String::new(),
            n: 0.0,
        };
        let paths = |v: Vec<Leaf>| v.into_iter().map(|l| l.path).collect::<Vec<_>>();
        // Out of range: after the rest.
        let got = interleave(vec![leaf("a"), leaf("b")], vec![leaf("inputs")], &[9]);
        assert_eq!(paths(got), ["a", "b", "inputs"]);
        // Missing places: at the end; out of order: as soon as passed.
        let got = interleave(
            vec![leaf("a")],
            vec![leaf("inputs.x"), leaf("inputs.y"), leaf("outputs")],
            &[2, 0],
        );
        assert_eq!(paths(got), ["a", "inputs.x", "inputs.y", "outputs"]);
    }

    fn content_key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("inputs".to_owned()),
            Just("outputs".to_owned()),
            Just("inputs.x".to_owned()),
            Just("inputsx".to_owned()),
            Just("a".to_owned()),
            Just("0".to_owned()),
        ]
    }

    fn content_doc() -> impl Strategy<Value = Value> {
        object(content_key(), 5)
    }

    /// Regression (fuzz target merge_fold): a top-level key `""` had the
    /// root's empty path, so its children read back one level up.
    #[test]
    fn an_empty_key_at_the_root_keeps_its_level() {
        for doc in [
            json!({"": {"a.b": -8, "0": "x"}, "a": false}),
            json!({"": {"": {"x": 1}}, "x": 2}),
            json!({"": [1, {"y": 2}]}),
        ] {
            assert_eq!(resolve(&flatten(&doc, true).leaves), doc, "{doc}");
        }
        let patches = [json!({"": {"x": 1}}), json!({"x": 2, "": {"y": null}})];
        let mut writes = Vec::new();
        for p in &patches {
            writes.extend(flatten(p, false).leaves);
        }
        assert_eq!(resolve(&writes), fold(json!({}), patches.iter()));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Flattening patches to leaf writes and keeping the last write per
        /// path (a terminal write clears what lies below it) is the fold.
        #[test]
        fn last_writer_per_leaf_is_the_fold(base in base(), patches in prop::collection::vec(patch(), 0..6)) {
            let mut writes = flatten(&base, true).leaves;
            for p in &patches {
                writes.extend(flatten(p, false).leaves);
            }
            let want = fold(base.clone(), patches.iter());
            prop_assert_eq!(resolve(&writes), want);
        }

        /// A row's leaves split into content and the rest, and put back
        /// together, are the leaves as written, derived ones too (so a
        /// base still rebuilds to the byte).
        #[test]
        fn content_apart_reads_back_whole(base in content_doc(), patch in content_doc()) {
            for (doc, is_base) in [(&base, true), (&patch, false)] {
                let leaves = flatten(doc, is_base).leaves;
                let (main, content, at) = split(&leaves);
                let back = interleave(main, content, &at);
                prop_assert_eq!(&back, &leaves);
            }
        }

        /// A base is rebuilt from its leaves, to the byte.
        #[test]
        fn a_base_is_its_leaves(base in base()) {
            let text = base.to_string();
            prop_assert_eq!(rebuild(&flatten(&base, true).leaves).to_string(), text);
        }

        /// `same_text` is equality of the JSON texts, for any two values
        /// (a base against its rebuilt leaves, or against another base).
        #[test]
        fn same_text_is_equal_text(a in base(), b in base()) {
            let rebuilt = rebuild(&flatten(&a, true).leaves);
            prop_assert!(same_text(&rebuilt, &a));
            let (ta, tb) = (a.to_string(), b.to_string());
            prop_assert_eq!(same_text(&a, &b), ta == tb);
        }

        /// Writes of one patch never conflict (no leaf of a patch lies
        /// below another), so their order inside a row does not matter:
        /// only the order of the rows does.
        #[test]
        fn order_inside_a_row_is_free(patches in prop::collection::vec(patch(), 1..6), seed in any::<u64>()) {
            let mut rng = seed | 1;
            let mut writes = Vec::new();
            for p in &patches {
                let mut flat = flatten(p, false).leaves;
                for i in (1..flat.len()).rev() {
                    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
                    flat.swap(i, (rng % (i as u64 + 1)) as usize);
                }
                writes.extend(flat);
            }
            prop_assert_eq!(resolve(&writes), fold(json!({}), patches.iter()));
        }
    }
}
