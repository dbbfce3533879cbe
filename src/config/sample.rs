//! Sample expressions: fetches with arguments and converter chains (`req.hdr(host),lower`).
