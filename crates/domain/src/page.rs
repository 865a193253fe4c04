//! Pagination: 100 items a page, `page=N` or `page=last`.

/// The fixed page size of every paginated list.
pub const PAGE_SIZE: u64 = 100;

/// Which page the caller asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PageSel {
    /// A 1-based page number.
    Number(u64),
    /// The last page (page 1 of an empty list).
    Last,
}

impl PageSel {
    /// Parses the `page` query parameter; `None` for anything that names no page.
    pub fn parse(raw: Option<&str>) -> Option<Self> {
        match raw {
            None => Some(Self::Number(1)),
            Some("last") => Some(Self::Last),
            Some(n) => n.parse::<u64>().ok().filter(|n| *n >= 1).map(Self::Number),
        }
    }

    /// Resolves against a total count: the page number and its offset, or `None` when out of range.
    pub fn locate(self, count: u64) -> Option<(u64, u64)> {
        let pages = count.div_ceil(PAGE_SIZE).max(1);
        let number = match self {
            Self::Number(n) => n,
            Self::Last => pages,
        };
        (number >= 1 && number <= pages).then(|| (number, (number - 1) * PAGE_SIZE))
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// How many items the whole list holds.
    pub count: u64,
    /// The 1-based number of this page.
    pub number: u64,
    /// The items of this page.
    pub items: Vec<T>,
}

impl<T> Page<T> {
    /// Whether a page follows this one.
    pub fn has_next(&self) -> bool {
        self.number * PAGE_SIZE < self.count
    }

    /// Transforms the items, keeping the position.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            count: self.count,
            number: self.number,
            items: self.items.into_iter().map(f).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_resolve_like_the_original() {
        assert_eq!(PageSel::parse(None), Some(PageSel::Number(1)));
        assert_eq!(PageSel::parse(Some("0")), None);
        assert_eq!(PageSel::parse(Some("-1")), None);
        assert_eq!(PageSel::parse(Some("x")), None);
        assert_eq!(PageSel::Number(1).locate(0), Some((1, 0)));
        assert_eq!(PageSel::Number(2).locate(100), None);
        assert_eq!(PageSel::Number(2).locate(101), Some((2, 100)));
        assert_eq!(PageSel::Last.locate(250), Some((3, 200)));
        assert_eq!(PageSel::Last.locate(0), Some((1, 0)));
    }
}
