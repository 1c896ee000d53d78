//! Session events a streamed read holds until the stream has given their
//! rollups (ADR 0013). A read of a whole project holds every session of it
//! (a million at ten million events: 955 MiB of the node's memory when all
//! were held in memory), so past a bound they go to a temporary file,
//! read back in order once the stream ends.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};

use serde_json::Value;

use super::partial::Partial;
use crate::{Result, StoreError};

/// A session event held until its rollup is known: its document as text
/// (a tenth of the memory of the parsed value).
pub(super) struct Held {
    project_id: String,
    doc: Box<str>,
    duration_explicit: bool,
    received_from: i64,
    /// Its id, when it names another session than itself.
    nested: Option<Box<str>>,
}

impl Held {
    pub fn of(p: Partial) -> Held {
        let field = |k: &str| p.doc.get(k).and_then(Value::as_str).unwrap_or_default();
        let (id, session) = (field("event_id"), field("session_id"));
        Held {
            doc: p.doc.to_string().into_boxed_str(),
            nested: (!session.is_empty() && id != session).then(|| id.into()),
            project_id: p.project_id,
            duration_explicit: p.duration_explicit,
            received_from: p.received_from,
        }
    }

    pub fn into_partial(self) -> Result<Partial> {
        Ok(Partial {
            doc: serde_json::from_str(&self.doc)
                .map_err(|e| StoreError::Corrupt(format!("a held session: {e}")))?,
            project_id: self.project_id,
            duration_explicit: self.duration_explicit,
            received_from: self.received_from,
        })
    }

    /// About what it holds of memory.
    fn size(&self) -> usize {
        std::mem::size_of::<Held>() + self.project_id.len() + self.doc.len()
    }

    /// Its fields but `nested` (which [`HeldSessions::push`] keeps apart).
    fn write(&self, w: &mut impl Write) -> std::io::Result<()> {
        let text = |w: &mut dyn Write, s: &str| -> std::io::Result<()> {
            w.write_all(&(s.len() as u64).to_le_bytes())?;
            w.write_all(s.as_bytes())
        };
        text(w, &self.project_id)?;
        text(w, &self.doc)?;
        w.write_all(&[u8::from(self.duration_explicit)])?;
        w.write_all(&self.received_from.to_le_bytes())
    }

    fn read(r: &mut impl Read) -> std::io::Result<Held> {
        fn text(r: &mut dyn Read) -> std::io::Result<String> {
            let mut len = [0u8; 8];
            r.read_exact(&mut len)?;
            let mut bytes = vec![0u8; u64::from_le_bytes(len) as usize];
            r.read_exact(&mut bytes)?;
            String::from_utf8(bytes)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        }
        let project_id = text(r)?;
        let doc = text(r)?.into_boxed_str();
        let mut flag = [0u8; 1];
        r.read_exact(&mut flag)?;
        let mut received = [0u8; 8];
        r.read_exact(&mut received)?;
        Ok(Held {
            project_id,
            doc,
            duration_explicit: flag[0] != 0,
            received_from: i64::from_le_bytes(received),
            nested: None,
        })
    }
}

/// The session events of one read: in memory up to `limit` bytes, the
/// rest in a temporary file (unnamed: it goes with the read, or with the
/// process).
pub(super) struct HeldSessions {
    memory: Vec<Held>,
    bytes: usize,
    limit: usize,
    spilled: Option<(BufWriter<File>, usize)>,
    /// (project, id) of the held sessions that name another session.
    nested: Vec<(String, String)>,
}

impl HeldSessions {
    pub fn new(limit: usize) -> HeldSessions {
        HeldSessions {
            memory: Vec::new(),
            bytes: 0,
            limit,
            spilled: None,
            nested: Vec::new(),
        }
    }

    pub fn push(&mut self, mut h: Held) -> Result<()> {
        if let Some(n) = h.nested.take() {
            self.nested.push((h.project_id.clone(), n.into()));
        }
        let size = h.size();
        if self.spilled.is_none() && self.bytes.saturating_add(size) <= self.limit {
            self.bytes += size;
            self.memory.push(h);
            return Ok(());
        }
        let (file, count) = match &mut self.spilled {
            Some(s) => s,
            None => {
                let file = tempfile::tempfile().map_err(|e| spill_error("make", &e))?;
                self.spilled
                    .insert((BufWriter::with_capacity(1 << 16, file), 0))
            }
        };
        h.write(file).map_err(|e| spill_error("write", &e))?;
        *count += 1;
        Ok(())
    }

    /// Forget every session (the read starts over).
    pub fn clear(&mut self) {
        *self = HeldSessions::new(self.limit);
    }

    /// The held sessions that name another session than themselves:
    /// (project, id).
    pub fn nested(&self) -> &[(String, String)] {
        &self.nested
    }

    /// How many sessions went to the file.
    #[cfg(test)]
    pub fn spilled(&self) -> usize {
        self.spilled.as_ref().map_or(0, |(_, n)| *n)
    }

    /// Every held session, in the order held.
    pub fn for_each(self, mut f: impl FnMut(Held) -> Result<()>) -> Result<()> {
        for h in self.memory {
            f(h)?;
        }
        let Some((file, count)) = self.spilled else {
            return Ok(());
        };
        let mut file = file
            .into_inner()
            .map_err(|e| spill_error("write", e.error()))?;
        file.rewind().map_err(|e| spill_error("read", &e))?;
        let mut r = BufReader::with_capacity(1 << 16, file);
        for _ in 0..count {
            f(Held::read(&mut r).map_err(|e| spill_error("read", &e))?)?;
        }
        Ok(())
    }
}

/// Held sessions a read maps at a time ([`HeldSessions::map_each`]).
const MAP_BATCH: usize = 4096;

impl HeldSessions {
    /// Every held session mapped by `f` on two threads, a batch at a time,
    /// and handed to `g` in the order held. Once the stream has ended its
    /// sessions are all that is left of a read (a chart of 7 days at ten
    /// million events: 230 000 sessions, 0.43 s on one thread), and the
    /// other core is idle by then: ClickHouse has answered.
    pub fn map_each<U: Send>(
        self,
        f: &(dyn Fn(Held) -> Result<U> + Sync),
        mut g: impl FnMut(U) -> Result<()>,
    ) -> Result<()> {
        let mut batch = Vec::with_capacity(MAP_BATCH);
        let mut flush = |batch: &mut Vec<Held>| -> Result<()> {
            for u in on_two_threads(std::mem::take(batch), f) {
                g(u?)?;
            }
            Ok(())
        };
        self.for_each(|h| {
            batch.push(h);
            if batch.len() >= MAP_BATCH {
                flush(&mut batch)?;
            }
            Ok(())
        })?;
        flush(&mut batch)
    }
}

/// `items` mapped by `f`, in their order: the second half on a thread of
/// its own (a few items on this one alone).
fn on_two_threads<T: Send, U: Send>(mut items: Vec<T>, f: &(dyn Fn(T) -> U + Sync)) -> Vec<U> {
    if items.len() < 64 {
        return items.into_iter().map(f).collect();
    }
    let rest = items.split_off(items.len() / 2);
    std::thread::scope(|scope| {
        let other = scope.spawn(move || rest.into_iter().map(f).collect::<Vec<U>>());
        let mut out: Vec<U> = items.into_iter().map(f).collect();
        match other.join() {
            Ok(more) => out.extend(more),
            // (`f` panicked there: as it would have here.)
            Err(panic) => std::panic::resume_unwind(panic),
        }
        out
    })
}

fn spill_error(what: &str, e: &std::io::Error) -> StoreError {
    StoreError::Unavailable(format!(
        "cannot {what} the temporary file that holds a read's sessions ({}): {e}",
        std::env::temp_dir().display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn held(i: i64) -> Held {
        Held::of(Partial {
            project_id: format!("p{}", i % 3),
            doc: json!({
                "event_id": format!("s{i}"),
                "session_id": if i % 4 == 0 { "other".to_owned() } else { format!("s{i}") },
                "event_type": "session",
                "metadata": {"text": "é\n\t\"".repeat(i as usize % 5)},
            }),
            duration_explicit: i % 2 == 0,
            received_from: i * 1_000 - 7,
        })
    }

    /// Whatever the bound, the sessions come back whole and in order, and
    /// those that name another session are known.
    #[test]
    fn sessions_come_back_in_order_from_memory_and_file() {
        for limit in [0, 500, usize::MAX] {
            let mut h = HeldSessions::new(limit);
            for i in 0..50 {
                h.push(held(i)).unwrap();
            }
            assert_eq!(h.spilled() > 0, limit < usize::MAX, "{limit}");
            assert_eq!(h.nested().len(), 13);
            assert_eq!(h.nested()[1], ("p1".to_owned(), "s4".to_owned()));
            let mut back = Vec::new();
            h.for_each(|s| {
                back.push(s.into_partial()?);
                Ok(())
            })
            .unwrap();
            assert_eq!(back.len(), 50);
            for (i, p) in back.iter().enumerate() {
                let want = held(i as i64).into_partial().unwrap();
                assert_eq!(p.doc, want.doc);
                assert_eq!(p.project_id, want.project_id);
                assert_eq!(p.duration_explicit, want.duration_explicit);
                assert_eq!(p.received_from, want.received_from);
            }
        }
        // Mapped on two threads, in batches: the same sessions in the same
        // order, from memory and from the file; an error ends it.
        for limit in [0, 20_000, usize::MAX] {
            let mut h = HeldSessions::new(limit);
            for i in 0..10_000 {
                h.push(held(i)).unwrap();
            }
            let mut back = Vec::new();
            h.map_each(&|s| Ok(s.into_partial()?.received_from), |r| {
                back.push(r);
                Ok(())
            })
            .unwrap();
            let want: Vec<i64> = (0..10_000).map(|i| i * 1_000 - 7).collect();
            assert_eq!(back, want, "{limit}");
        }
        let mut h = HeldSessions::new(usize::MAX);
        for i in 0..5_000 {
            h.push(held(i)).unwrap();
        }
        let failed = h.map_each(
            &|s| match s.into_partial()?.received_from {
                4_500_993 => Err(StoreError::Invalid("that one".into())),
                r => Ok(r),
            },
            |_| Ok(()),
        );
        assert!(matches!(failed, Err(StoreError::Invalid(_))), "{failed:?}");
        let mut h = HeldSessions::new(0);
        h.push(held(1)).unwrap();
        h.clear();
        assert_eq!((h.spilled(), h.nested().len()), (0, 0));
    }
}
