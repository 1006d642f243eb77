//! An upstream's change feed, when the upstream is another Berth (beside
//! its index, `.../r/NAME/index/`, `.../r/NAME/api/v1/changes` lists the
//! versions published, yanked and unyanked, in order): what `berth mirror
//! fill --all` walks to hold every version the upstream has. Read with the
//! proxy's client, token and host rules, from the index's own host; a page
//! at most [`MAX_FEED_BYTES`].

use reqwest::StatusCode;

use super::error::UpstreamError;
use super::state::Proxy;
use crate::crates::changes::ChangePage;
use crate::error::ServiceError;
use crate::Registry;

/// Changes asked for at once.
const FEED_PAGE: i64 = 500;
/// The most bytes of one page read.
const MAX_FEED_BYTES: u64 = 8 << 20;

impl Proxy {
    /// The upstream's changes after `since` (no waiting).
    pub(crate) async fn upstream_feed(
        &self,
        reg: &Registry,
        since: i64,
    ) -> Result<ChangePage, ServiceError> {
        if self.settings.offline {
            return Err(ServiceError::BadRequest(format!(
                "registry `{}` is offline: it contacts no upstream, so it cannot read the \
                 upstream's change feed",
                reg.name
            )));
        }
        let no_feed = |why: String| {
            ServiceError::BadRequest(format!(
                "the upstream of registry `{}` has no change feed ({why}): `--all` needs an \
                 upstream that is a Berth registry (hosted or replica); fill from lockfiles or \
                 a crate list instead",
                reg.name
            ))
        };
        // A Berth registry's index is at `.../r/NAME/index/`, its feed at
        // `.../r/NAME/api/v1/changes`: the same host, which the token may go
        // to as it goes to the index.
        let index = &self.settings.index_url;
        let api = index
            .strip_suffix("index/")
            .filter(|base| base.ends_with('/'))
            .ok_or_else(|| {
                no_feed(format!(
                    "its index URL {} does not end in /index/ as a Berth registry's does",
                    berth_store::redact(index)
                ))
            })?
            .trim_end_matches('/');
        let url = format!("{api}/api/v1/changes?since={since}&limit={FEED_PAGE}&wait=0");
        let got = self.get(reg, &url, self.auth_headers(true)).await;
        let failed = |e: UpstreamError| {
            ServiceError::BadGateway(format!(
                "registry `{}` could not read its upstream's change feed: {e}",
                reg.name
            ))
        };
        let resp = got.map_err(failed)?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST => {
                return Err(no_feed(format!(
                    "GET {}/api/v1/changes answered {}",
                    berth_store::redact(api),
                    resp.status()
                )))
            }
            status => return Err(failed(UpstreamError::Status { status })),
        }
        let body = Self::read_body(resp, MAX_FEED_BYTES)
            .await
            .map_err(failed)?;
        serde_json::from_slice(&body).map_err(|e| {
            no_feed(format!(
                "what {}/api/v1/changes answered is not a Berth change feed: {e}",
                berth_store::redact(api)
            ))
        })
    }
}
