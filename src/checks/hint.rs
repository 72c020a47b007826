//! Sorting an error text by its cause, for the hints of `lookout doctor`: a check type's
//! own advice (`CheckType::hint`) and a notifier's are chosen by the `Cause` of the words
//! Lookout's own messages use ("connection refused", "DNS", "no answer within",
//! "authentication failed", ...).

/// What went wrong, as far as the words of an error tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    Refused,
    Dns,
    Timeout,
    Auth,
    Permission,
    Missing,
    Directory,
    Tls,
    HttpStatus,
    Other,
}

/// Sorts an error text (a check's detail, a notifier's error) by its cause.
pub fn cause(text: &str) -> Cause {
    let lower = text.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    if has(&[
        "authentication failed",
        "password authentication",
        "access denied for user",
        "wrongpass",
        "noauth",
        "invalid username-password",
        "http 401",
        "http 403",
    ]) {
        Cause::Auth
    } else if has(&["permission denied", "operation not permitted"]) {
        Cause::Permission
    } else if has(&["connection refused", "refused by", "refused to"]) {
        Cause::Refused
    } else if has(&[
        "dns",
        "cannot resolve",
        "failed to lookup address",
        "name or service not known",
        "no addresses",
    ]) {
        Cause::Dns
    } else if has(&["timeout", "timed out", "no answer within", "did not finish"]) {
        Cause::Timeout
    } else if has(&["tls", "certificate", "handshake"]) {
        Cause::Tls
    } else if has(&["is a directory"]) {
        Cause::Directory
    } else if has(&["no such file", "not found"]) {
        Cause::Missing
    } else if http_error_status(&lower) {
        Cause::HttpStatus
    } else {
        Cause::Other
    }
}

/// "HTTP 503 ..." (a 4xx or 5xx answer) anywhere in the text.
fn http_error_status(lower: &str) -> bool {
    lower.match_indices("http ").any(|(at, _)| {
        let code = &lower[at + 5..];
        code.len() >= 3
            && matches!(code.as_bytes()[0], b'4' | b'5')
            && code.as_bytes()[1..3].iter().all(u8::is_ascii_digit)
    })
}
