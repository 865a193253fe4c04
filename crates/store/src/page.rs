//! Pagination with SQL `LIMIT`/`OFFSET`, bounded by the page size at both ends of a list.
//!
//! A page in the front half is read in list order from its offset; a page in the back half is
//! read in reverse order from the list's end (and turned around), so the last page costs what
//! the first does. With an index on the list's filter and order (migration
//! `page_indexes`), that is an index range of about one page.

use deis_domain::{PAGE_SIZE, Page, PageSel, StoreError};

use crate::error::Fail;

/// `PAGE_SIZE` as SQL wants it.
pub(crate) const LIMIT: i64 = PAGE_SIZE as i64;

/// Where the requested page lies in a list of `count` items.
pub(crate) struct Window {
    count: u64,
    number: u64,
    /// Rows to skip in the direction read.
    pub(crate) offset: i64,
    /// Rows to read.
    pub(crate) limit: i64,
    /// Read in reverse list order, from the end.
    pub(crate) backwards: bool,
}

impl Window {
    /// Resolves `sel` against the total; `NotFound("page")` when it names no page.
    pub(crate) fn locate(count: i64, sel: PageSel) -> Result<Self, Fail> {
        let total = count.max(0);
        let count = u64::try_from(total).unwrap_or(0);
        let (number, offset) = sel.locate(count).ok_or(StoreError::NotFound("page"))?;
        let offset = i64::try_from(offset).map_err(|_| StoreError::NotFound("page"))?;
        let len = (total - offset).clamp(0, LIMIT);
        let from_end = total - offset - len;
        let backwards = from_end < offset;
        Ok(Self {
            count,
            number,
            offset: if backwards { from_end } else { offset },
            limit: if backwards { len } else { LIMIT },
            backwards,
        })
    }

    /// The page holding `items`, as read (in list order again if read backwards).
    pub(crate) fn page<T>(self, mut items: Vec<T>) -> Page<T> {
        if self.backwards {
            items.reverse();
        }
        Page {
            count: self.count,
            number: self.number,
            items,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(count: i64, sel: PageSel) -> (i64, i64, bool) {
        let w = Window::locate(count, sel).expect("a page");
        (w.offset, w.limit, w.backwards)
    }

    #[test]
    fn the_back_half_is_read_from_the_end() {
        assert_eq!(read(0, PageSel::Number(1)), (0, LIMIT, false));
        assert_eq!(read(250, PageSel::Number(1)), (0, LIMIT, false));
        assert_eq!(read(250, PageSel::Last), (0, 50, true));
        assert_eq!(read(250, PageSel::Number(2)), (50, 100, true));
        assert_eq!(read(300, PageSel::Number(2)), (100, LIMIT, false));
        assert_eq!(read(10_000, PageSel::Last), (0, 100, true));
        assert_eq!(read(10_000, PageSel::Number(99)), (100, 100, true));
        assert_eq!(read(10_001, PageSel::Last), (0, 1, true));
    }
}
