//! Races that scopes and ownership must settle inside the publish
//! transaction, not only in the checks before it.

use std::sync::{Arc, Barrier};

use berth_testkit::{crate_file, index_lines, index_path, publish_raw, Server};

/// A token that may only create new crates, racing two first publishes of
/// one crate (different versions): exactly one version is added, however
/// the race falls, and the other is refused for the missing scope.
#[test]
fn a_publish_new_only_token_never_adds_a_version() {
    let server = Server::start();
    server.add_user("newbie", false);
    let token = server.token("newbie", &["--scope", "publish-new"]);
    for round in 0..6 {
        let name = format!("race-new-{round}");
        let barrier = Arc::new(Barrier::new(2));
        let threads: Vec<_> = ["1.0.0", "1.0.1"]
            .into_iter()
            .map(|vers| {
                let (url, token, name, barrier) = (
                    server.url.clone(),
                    token.clone(),
                    name.clone(),
                    barrier.clone(),
                );
                std::thread::spawn(move || {
                    let krate = crate_file(&name, vers, "pub fn x() {}\n");
                    barrier.wait();
                    publish_raw(&url, &token, &name, vers, &krate)
                })
            })
            .collect();
        let mut statuses: Vec<u16> = threads
            .into_iter()
            .map(|t| t.join().unwrap().expect("publish answered"))
            .collect();
        statuses.sort();
        assert_eq!(statuses, vec![200, 403], "{name}");
        let lines = index_lines(&server, "main", &index_path(&name));
        assert_eq!(lines.len(), 1, "{name}: {lines:?}");
    }
}
