//! `berth promote`: a version copied from one hosted registry into another
//! (`berth_core::crates::promote` decides and writes).

use anyhow::Result;
use berth_core::crates::promote::PromoteRequest;

use crate::commands::supply::split_target;
use crate::stores::Setup;

pub async fn run(
    setup: Setup,
    target: &str,
    from: String,
    to: String,
    with_deps: bool,
) -> Result<()> {
    let (krate, version) = split_target(target, "CRATE@VERSION")?;
    let req = PromoteRequest {
        krate: krate.to_string(),
        version: version.to_string(),
        from,
        to,
        with_deps,
    };
    setup
        .with_berth(async |berth| {
            for p in berth.promote(None, &req).await? {
                if p.copied {
                    println!(
                        "promoted {}@{} from `{}` to `{}`",
                        p.krate, p.version, req.from, req.to
                    );
                } else {
                    println!(
                        "{}@{} is in `{}` already (the same bytes)",
                        p.krate, p.version, req.to
                    );
                }
            }
            Ok(())
        })
        .await
}
