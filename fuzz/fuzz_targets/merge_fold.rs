//! The RFC 7396 fold (hive_core::merge) against the RFC's own definition,
//! `compose` (coalescing two queued patches) against applying them in turn,
//! and the ClickHouse store's last-writer-wins per leaf path against the
//! fold. The input is read as a base document and patches over a small
//! key alphabet (so patches collide), with `.` and `\` in keys.
#![no_main]

use hive_core::merge::{compose, fold, merge_patch};
use hive_store::clickhouse::leaves::{flatten, resolve};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

/// RFC 7396, section 2, as written there (`None`: the target is absent).
fn rfc_merge_patch(target: Option<Value>, patch: &Value) -> Value {
    let Value::Object(patch) = patch else {
        return patch.clone();
    };
    let mut target = match target {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for (name, value) in patch {
        if value.is_null() {
            target.remove(name);
        } else {
            let current = target.remove(name);
            target.insert(name.clone(), rfc_merge_patch(current, value));
        }
    }
    Value::Object(target)
}

/// Reads JSON values off the fuzzer's bytes.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn key(&mut self) -> String {
        const KEYS: [&str; 8] = ["a", "b", "a.b", "c\\", "0", "", "b.", "\\."];
        KEYS[usize::from(self.byte()) % KEYS.len()].to_owned()
    }

    fn value(&mut self, depth: u32) -> Value {
        let b = self.byte();
        match b % 9 {
            0 => Value::Null,
            1 => Value::Bool(b & 0x10 != 0),
            2 => Value::from(i64::from(self.byte()) - 128),
            3 => Value::from(f64::from(self.byte()) / 7.0),
            4 => Value::from(["", "x", "a.b", "null"][usize::from(self.byte() % 4)]),
            // Nesting stays within the 32 levels the API accepts (arrays
            // nested past serde_json's 128 levels are a known finding: see
            // docs/fuzzing.md).
            5 if depth < 32 => {
                let n = usize::from(self.byte() % 3);
                Value::Array((0..n).map(|_| self.value(depth + 1)).collect())
            }
            _ if depth < 4 => self.object(depth + 1),
            _ => Value::from(1),
        }
    }

    fn object(&mut self, depth: u32) -> Value {
        let n = usize::from(self.byte() % 4);
        let mut m = Map::new();
        for _ in 0..n {
            let k = self.key();
            let v = self.value(depth);
            m.insert(k, v);
        }
        Value::Object(m)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut r = Reader(data);
    let base = r.object(0);
    let count = usize::from(r.byte() % 6);
    let patches: Vec<Value> = (0..count).map(|_| r.object(0)).collect();

    // The fold is the RFC's definition applied in turn.
    let mut expected = base.clone();
    for p in &patches {
        expected = rfc_merge_patch(Some(expected), p);
    }
    let folded = fold(base.clone(), patches.iter());
    assert_eq!(folded, expected);

    // Patches coalesced where one patch can say both have the effect of
    // the patches in turn; a refused composition leaves the first as it was.
    if let Some((first, rest)) = patches.split_first() {
        let mut groups = Vec::new();
        let mut coalesced = first.clone();
        for p in rest {
            let before = coalesced.clone();
            if !compose(&mut coalesced, p) {
                assert_eq!(coalesced, before);
                groups.push(std::mem::replace(&mut coalesced, p.clone()));
            }
        }
        groups.push(coalesced);
        let mut once = base.clone();
        for g in &groups {
            merge_patch(&mut once, g);
        }
        assert_eq!(once, folded);
    }

    // Last writer per leaf path (the ClickHouse store) is the fold.
    let mut writes = flatten(&base, true).leaves;
    for p in &patches {
        writes.extend(flatten(p, false).leaves);
    }
    assert_eq!(resolve(&writes), folded);
});
