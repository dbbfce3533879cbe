mod common;
#[allow(unused_imports)]
use common::*;

#[test]
fn smoke() {
    let m = MockServer::start("a");
    let r = http_get(m.addr(), "/x");
    assert_eq!(r.server(), Some("a"));
}
