//! Pagination with SQL `LIMIT`/`OFFSET`.

use deis_domain::{PAGE_SIZE, Page, PageSel, StoreError};

use crate::error::Fail;

/// `PAGE_SIZE` as SQL wants it.
pub(crate) const LIMIT: i64 = PAGE_SIZE as i64;

/// Where the requested page lies in a list of `count` items.
pub(crate) struct Window {
    count: u64,
    number: u64,
    /// Rows to skip.
    pub(crate) offset: i64,
}

impl Window {
    /// Resolves `sel` against the total; `NotFound("page")` when it names no page.
    pub(crate) fn locate(count: i64, sel: PageSel) -> Result<Self, Fail> {
        let count = u64::try_from(count).unwrap_or(0);
        let (number, offset) = sel.locate(count).ok_or(StoreError::NotFound("page"))?;
        let offset = i64::try_from(offset).map_err(|_| StoreError::NotFound("page"))?;
        Ok(Self {
            count,
            number,
            offset,
        })
    }

    /// The page holding `items`.
    pub(crate) fn page<T>(self, items: Vec<T>) -> Page<T> {
        Page {
            count: self.count,
            number: self.number,
            items,
        }
    }
}
