//! `ListObjectsV2` over a bucket's sorted keys: the prefix, the delimiter's
//! common prefixes, `start-after`, continuation tokens and `max-keys`, as
//! S3 answers them. Pure, so it is table-tested.

use super::objects::Entry;

/// S3's most keys in one answer, and its default.
pub const MAX_KEYS: usize = 1000;

/// What one `ListObjectsV2` asks.
#[derive(Clone, Debug, Default)]
pub struct Query<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    /// List keys after this one: the continuation token's key, else `start-after`.
    pub after: Option<&'a str>,
    pub max_keys: usize,
}

/// One page of a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page<'e> {
    pub contents: Vec<&'e Entry>,
    pub common_prefixes: Vec<String>,
    /// The key or common prefix the next page starts after, when there is one.
    pub next_after: Option<String>,
}

/// The page `query` asks of `entries` (sorted by key).
pub fn page<'e>(entries: &'e [Entry], query: &Query<'_>) -> Page<'e> {
    let mut page = Page::default();
    let mut count = 0;
    let delimiter = query.delimiter.filter(|d| !d.is_empty());
    let mut last: Option<String> = None;
    for entry in entries {
        let key = entry.key.as_str();
        if !key.starts_with(query.prefix) {
            continue;
        }
        if let Some(after) = query.after
            && (key <= after
                || (delimiter.is_some_and(|d| after.ends_with(d)) && key.starts_with(after)))
        {
            continue;
        }
        let group = delimiter.and_then(|d| {
            key[query.prefix.len()..]
                .find(d)
                .map(|i| &key[..query.prefix.len() + i + d.len()])
        });
        if let Some(group) = group
            && page.common_prefixes.last().is_some_and(|p| p == group)
        {
            continue;
        }
        if count == query.max_keys {
            page.next_after = last;
            return page;
        }
        count += 1;
        match group {
            Some(group) => {
                page.common_prefixes.push(group.to_string());
                last = Some(group.to_string());
            }
            None => {
                page.contents.push(entry);
                last = Some(key.to_string());
            }
        }
    }
    page
}

/// The opaque continuation token of `after`: hex, so any key fits a query string.
pub fn token(after: &str) -> String {
    hex::encode(after)
}

/// The key a continuation token names, if it is one of [`token`]'s.
pub fn after_token(token: &str) -> Option<String> {
    String::from_utf8(hex::decode(token).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn entries(keys: &[&str]) -> Vec<Entry> {
        keys.iter()
            .map(|k| Entry {
                key: k.to_string(),
                size: 1,
                last_modified: SystemTime::UNIX_EPOCH,
                e_tag: None,
            })
            .collect()
    }

    /// The page's keys, common prefixes marked with a trailing `*`, and the
    /// next page's start.
    fn check(query: Query<'_>, expected: &[&str], next: Option<&str>) {
        let all = entries(&["a", "b/1", "b/2", "b/3/x", "c", "cat/1", "d"]);
        let got = page(&all, &query);
        let mut listed: Vec<String> = got.contents.iter().map(|e| e.key.clone()).collect();
        listed.extend(got.common_prefixes.iter().map(|p| format!("{p}*")));
        listed.sort();
        assert_eq!(listed, expected, "{query:?}");
        assert_eq!(got.next_after.as_deref(), next, "{query:?}");
    }

    #[test]
    fn listing() {
        let q = |prefix, delimiter, after, max_keys| Query {
            prefix,
            delimiter,
            after,
            max_keys,
        };
        check(
            q("", None, None, 1000),
            &["a", "b/1", "b/2", "b/3/x", "c", "cat/1", "d"],
            None,
        );
        check(
            q("", Some("/"), None, 1000),
            &["a", "b/*", "c", "cat/*", "d"],
            None,
        );
        check(
            q("b/", Some("/"), None, 1000),
            &["b/1", "b/2", "b/3/*"],
            None,
        );
        check(q("c", None, None, 1000), &["c", "cat/1"], None);
        check(q("", Some("/"), None, 2), &["a", "b/*"], Some("b/"));
        check(
            q("", Some("/"), Some("b/"), 2),
            &["c", "cat/*"],
            Some("cat/"),
        );
        check(q("", Some("/"), Some("cat/"), 2), &["d"], None);
        check(q("", None, Some("b/2"), 2), &["b/3/x", "c"], Some("c"));
        check(q("", None, None, 0), &[], None);
        check(q("zzz", Some("/"), None, 10), &[], None);
        assert_eq!(after_token(&token("b/ü")).as_deref(), Some("b/ü"));
        assert_eq!(after_token("not hex"), None);
    }
}
