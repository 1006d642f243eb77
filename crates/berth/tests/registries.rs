//! Registry settings kept with the data: a node whose configuration
//! disagrees with them refuses to start, so a lost configuration file never
//! serves a private registry openly.

use berth_testkit::Server;

#[test]
fn a_private_registry_never_fails_open() {
    let config = "[[registries]]\nname = \"main\"\nprivate = true\n";
    let server = Server::start_with_config(config);
    assert_eq!(server.get("/r/main/index/config.json").status(), 401);
    let stores = server.stores.clone();
    drop(server);

    // Started without its configuration file: refused, with the way out.
    let log = match Server::try_start_on(stores.clone(), "") {
        Ok(_) => panic!("a node without its configuration served a private registry"),
        Err(log) => log,
    };
    assert!(
        log.contains("registry `main` is stored as private but configured as public")
            && log.contains("berth registry visibility main public"),
        "{log}"
    );
    // A registry the configuration forgets is refused too.
    let log = match Server::try_start_on(stores.clone(), "[[registries]]\nname = \"other\"\n") {
        Ok(_) => panic!("a registry in the database went missing from the configuration"),
        Err(log) => log,
    };
    assert!(log.contains("the database holds registry `main`"), "{log}");

    // The deliberate change: the stored setting, then the configuration.
    let node = Server::start_on(stores.clone(), config);
    let out = node.berth(&["registry", "visibility", "main", "public"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(node);
    let public = Server::start_on(stores, "");
    assert_eq!(public.get("/r/main/index/config.json").status(), 200);
}
