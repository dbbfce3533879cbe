//! `show sess`: the sessions being served, one line each, in the shape of HAProxy's list
//! (address, protocol, source, frontend, age); the internal fields HAProxy adds after them
//! (buffers, flags, timers) have no equivalent here and are left out.

use super::Ctx;

pub fn show_sess(ctx: &mut Ctx, args: &[&str], out: &mut String) {
    let only = args
        .first()
        .and_then(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).ok());
    let mut list: Vec<(u64, super::SessInfo)> = super::lock(&ctx.rt.cli.sessions)
        .iter()
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    list.sort_by_key(|(k, _)| *k);
    for (id, s) in list {
        if only.is_some_and(|o| o != id) {
            continue;
        }
        let src = match s.src {
            Some(a) => a.to_string(),
            None => "unix:1".to_string(),
        };
        out.push_str(&format!(
            "0x{id:x}: proto={} src={src} fe={} be=<NONE> srv=<none> ts=00 epoch=0 age={}s calls=1 rate=0 cpu=0 lat=0\n",
            s.proto,
            s.frontend,
            s.since.elapsed().as_secs()
        ));
    }
    out.push('\n');
}
