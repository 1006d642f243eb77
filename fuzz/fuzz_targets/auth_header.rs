//! The `Authorization` header and token scope lists (arbitrary text, lossy
//! UTF-8 of the input).
//!
//! Invariants: nothing panics; the token is a trimmed slice of the header;
//! parsed scopes always include `read` and survive `to_list` -> `parse`.
#![no_main]

use berth_core::accounts::auth::{hash_token, token_from_header, Role, Scope, Scopes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);

    let token = token_from_header(&s);
    assert_eq!(token, token.trim());
    let (start, end) = (s.as_ptr() as usize, s.as_ptr() as usize + s.len());
    let t = token.as_ptr() as usize;
    assert!(
        t >= start && t + token.len() <= end,
        "token is not a slice of the header"
    );
    if !s.trim().starts_with("Bearer ") {
        assert_eq!(token, s.trim());
    }
    let hash = hash_token(token);
    assert!(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()));

    match Scopes::parse(&s) {
        Ok(scopes) => {
            assert!(scopes.has(Scope::Read), "every token reads");
            let list = scopes.to_list();
            assert_eq!(
                Scopes::parse(&list),
                Ok(scopes),
                "`{list}` does not round-trip"
            );
        }
        Err(message) => assert!(message.contains("unknown token scope")),
    }

    if let Ok(role) = s.parse::<Role>() {
        assert_eq!(role.as_str(), &*s);
    }
});
