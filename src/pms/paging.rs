//! The bounds every paged PMS listing keeps: at most so many pages, and never the same cursor
//! (page link, offset, page number) twice — a vendor that pages without end, or loops, fails the
//! property instead of growing memory or hanging the run.

use std::collections::HashSet;
use std::hash::Hash;

use super::PmsError;

pub(crate) struct Pages<K> {
    what: &'static str,
    max: usize,
    cursors: HashSet<K>,
}

impl<K: Hash + Eq> Pages<K> {
    /// `what` names the listing in errors.
    pub fn new(what: &'static str, max: usize) -> Self {
        Self { what, max, cursors: HashSet::new() }
    }

    /// Call before reading the page at `cursor`.
    pub fn next(&mut self, cursor: K) -> Result<(), PmsError> {
        if self.cursors.len() >= self.max {
            return Err(PmsError::Incomplete(format!("{} returned more than {} pages", self.what, self.max)));
        }
        if !self.cursors.insert(cursor) {
            return Err(PmsError::Incomplete(format!("{}'s page cursor repeated", self.what)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_pages_and_refuses_a_repeated_cursor() {
        let mut pages = Pages::new("the listing", 2);
        assert!(pages.next("a").is_ok() && pages.next("b").is_ok());
        let err = pages.next("c").unwrap_err().to_string();
        assert!(err.contains("more than 2 pages"), "{err}");
        let mut pages = Pages::new("the listing", 10);
        pages.next(0).unwrap();
        let err = pages.next(0).unwrap_err().to_string();
        assert!(err.contains("repeated"), "{err}");
    }
}
