//! A zero-allocation path to the field being decoded, rendered only when an
//! error is reported (`resourceSpans[0].scopeSpans[1].spans[3].traceId`).

#[derive(Clone, Copy)]
enum Seg<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

/// One step of a path; the parent steps live on the caller's stack.
#[derive(Clone, Copy)]
pub(crate) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: Seg<'a>,
}

impl<'a> Path<'a> {
    pub(crate) const ROOT: Path<'static> = Path {
        parent: None,
        seg: Seg::Root,
    };

    /// `self.key`
    pub(crate) fn key<'b>(&'b self, key: &'b str) -> Path<'b>
    where
        'a: 'b,
    {
        Path {
            parent: Some(self),
            seg: Seg::Key(key),
        }
    }

    /// `self[index]`
    pub(crate) fn index<'b>(&'b self, index: usize) -> Path<'b>
    where
        'a: 'b,
    {
        Path {
            parent: Some(self),
            seg: Seg::Index(index),
        }
    }

    /// The path as text; the root alone renders as `(root)`.
    pub(crate) fn render(&self) -> String {
        let mut segs = Vec::new();
        let mut cur = Some(self);
        while let Some(p) = cur {
            segs.push(p.seg);
            cur = p.parent;
        }
        let mut out = String::new();
        for seg in segs.iter().rev() {
            match seg {
                Seg::Root => {}
                Seg::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Seg::Index(i) => {
                    out.push('[');
                    out.push_str(&i.to_string());
                    out.push(']');
                }
            }
        }
        if out.is_empty() {
            out.push_str("(root)");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Path;

    #[test]
    fn renders_keys_and_indices() {
        let root = Path::ROOT;
        let rs = root.key("resourceSpans");
        let rs0 = rs.index(0);
        let ss = rs0.key("scopeSpans");
        let ss1 = ss.index(1);
        let id = ss1.key("traceId");
        assert_eq!(id.render(), "resourceSpans[0].scopeSpans[1].traceId");
        assert_eq!(Path::ROOT.render(), "(root)");
        assert_eq!(root.index(2).render(), "[2]");
    }
}
