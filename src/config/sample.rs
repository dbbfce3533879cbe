//! Sample expressions: fetches with arguments and converter chains (`req.hdr(host),lower`).
//!
//! The tables below list every sample fetch and converter of HAProxy 2.6 with its argument
//! signature and types, so that a typo is an error with a suggestion, a wrong argument count
//! is reported where HAProxy would report it, and a known but unimplemented keyword still
//! loads (as `Other`, for the caller to warn about).
//!
//! Argument signatures are strings of one letter per argument; letters after `[` are
//! optional: `s` string, `i` integer, `b` backend, `f` frontend, `t` table, `v` server,
//! `u` userlist, `r` regex, `4`/`6` IPv4/IPv6 address, `m`/`M` IPv4/IPv6 mask, `p` protocol
//! buffers field path.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nom::IResult;
use nom::bytes::complete::take_while;

use super::diag::did_you_mean;
use super::lexer::Word;
use super::value::{ValueError, parse_int};
use crate::model::expr::{Arg, ConvName, Converter, Fetch, FetchName, Sample, SmpType};

/// What HAProxy declares about a sample fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleFetchInfo {
    /// The keyword; for `sc0_*`/`sc1_*`/`sc2_*` forms, the generic `sc_*` keyword.
    pub name: &'static str,
    /// Argument signature (see the module documentation).
    pub args: &'static str,
    pub output: SmpType,
    /// Needs an HTTP transaction: warn when used in a TCP-mode proxy.
    pub needs_http: bool,
}

/// What HAProxy declares about a converter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConverterInfo {
    pub name: &'static str,
    pub args: &'static str,
    pub input: SmpType,
    pub output: SmpType,
}

const fn k(name: &'static str, args: &'static str, output: SmpType) -> SampleFetchInfo {
    SampleFetchInfo {
        name,
        args,
        output,
        needs_http: false,
    }
}

const fn h(name: &'static str, args: &'static str, output: SmpType) -> SampleFetchInfo {
    SampleFetchInfo {
        name,
        args,
        output,
        needs_http: true,
    }
}

const fn c(
    name: &'static str,
    args: &'static str,
    input: SmpType,
    output: SmpType,
) -> ConverterInfo {
    ConverterInfo {
        name,
        args,
        input,
        output,
    }
}

use SmpType::{Addr, Any, Bin, Bool, Ipv4, Ipv6, Meth, Sint, Str};

/// HAProxy 2.6 sample fetches (section 7.3.2 to 7.3.6 of its manual). The `sc0_`, `sc1_`
/// and `sc2_` forms are derived from the `sc_` ones by [`fetch_info`].
static FETCHES: &[SampleFetchInfo] = &[
    k("51d.all", "s[ssss", Str),
    k("always_false", "", Bool),
    k("always_true", "", Bool),
    k("avg_queue", "b", Sint),
    h("base", "", Str),
    h("base32", "", Sint),
    h("base32+src", "", Bin),
    h("baseq", "", Str),
    k("bc_dst", "", Sint),
    k("bc_dst_port", "", Sint),
    k("bc_err", "", Sint),
    k("bc_err_str", "", Str),
    k("bc_http_major", "", Sint),
    k("bc_src", "", Sint),
    k("bc_src_port", "", Sint),
    k("be_conn", "b", Sint),
    k("be_conn_free", "b", Sint),
    k("be_id", "", Sint),
    k("be_name", "", Str),
    k("be_server_timeout", "", Sint),
    k("be_sess_rate", "b", Sint),
    k("be_tunnel_timeout", "", Sint),
    k("bin", "s", Bin),
    k("bool", "s", Bool),
    h("capture.req.hdr", "i", Str),
    h("capture.req.method", "", Str),
    h("capture.req.uri", "", Str),
    h("capture.req.ver", "", Str),
    h("capture.res.hdr", "i", Str),
    h("capture.res.ver", "", Str),
    k("connslots", "b", Sint),
    h("cook", "[s", Str),
    h("cook_cnt", "[s", Sint),
    h("cook_val", "[s", Sint),
    h("cookie", "[s", Str),
    k("cpu_calls", "", Sint),
    k("cpu_ns_avg", "", Sint),
    k("cpu_ns_tot", "", Sint),
    k("cur_server_timeout", "", Sint),
    k("cur_tunnel_timeout", "", Sint),
    k("date", "[is", Sint),
    k("date_us", "", Sint),
    k("distcc_body", "s[i", Bin),
    k("distcc_param", "s[i", Sint),
    k("dst", "", Ipv4),
    k("dst_conn", "", Sint),
    k("dst_is_local", "", Bool),
    k("dst_port", "", Sint),
    k("env", "s", Str),
    k("fc_dst", "", Ipv4),
    k("fc_dst_is_local", "", Bool),
    k("fc_dst_port", "", Sint),
    k("fc_err", "", Sint),
    k("fc_err_str", "", Str),
    k("fc_fackets", "[s", Sint),
    k("fc_http_major", "", Sint),
    k("fc_lost", "[s", Sint),
    k("fc_pp_authority", "", Str),
    k("fc_pp_unique_id", "", Str),
    k("fc_rcvd_proxy", "", Bool),
    k("fc_reordering", "[s", Sint),
    k("fc_retrans", "[s", Sint),
    k("fc_rtt", "[s", Sint),
    k("fc_rttvar", "[s", Sint),
    k("fc_sacked", "[s", Sint),
    k("fc_src", "", Ipv4),
    k("fc_src_is_local", "", Bool),
    k("fc_src_port", "", Sint),
    k("fc_unacked", "[s", Sint),
    h("fcgi.docroot", "", Str),
    h("fcgi.index", "", Str),
    k("fe_client_timeout", "", Sint),
    k("fe_conn", "f", Sint),
    k("fe_defbe", "", Str),
    k("fe_id", "", Sint),
    k("fe_name", "", Str),
    k("fe_req_rate", "f", Sint),
    k("fe_sess_rate", "f", Sint),
    h("hdr", "[si", Str),
    h("hdr_cnt", "[s", Sint),
    h("hdr_ip", "[si", Ipv4),
    h("hdr_val", "[si", Sint),
    k("hostname", "", Str),
    h("http_auth", "u", Bool),
    h("http_auth_bearer", "[s", Str),
    h("http_auth_group", "u", Str),
    h("http_auth_pass", "", Str),
    h("http_auth_type", "", Str),
    h("http_auth_user", "", Str),
    h("http_first_req", "", Bool),
    k("int", "i", Sint),
    h("internal.htx.data", "", Sint),
    h("internal.htx.free", "", Sint),
    h("internal.htx.free_data", "", Sint),
    h("internal.htx.has_eom", "", Bool),
    h("internal.htx.nbblks", "", Sint),
    h("internal.htx.size", "", Sint),
    h("internal.htx.used", "", Sint),
    h("internal.htx_blk.data", "s", Bin),
    h("internal.htx_blk.hdrname", "s", Str),
    h("internal.htx_blk.hdrval", "s", Str),
    h("internal.htx_blk.size", "s", Sint),
    h("internal.htx_blk.start_line", "s", Str),
    h("internal.htx_blk.type", "s", Str),
    k("internal.strm.is_htx", "", Bool),
    k("ipv4", "4", Ipv4),
    k("ipv6", "6", Ipv6),
    k("last_rule_file", "", Str),
    k("last_rule_line", "", Sint),
    k("lat_ns_avg", "", Sint),
    k("lat_ns_tot", "", Sint),
    k("meth", "s", Meth),
    h("method", "", Meth),
    k("nbproc", "", Sint),
    k("nbsrv", "b", Sint),
    h("path", "", Str),
    h("pathq", "", Str),
    k("payload", "ii", Bin),
    k("payload_lv", "ii[s", Bin),
    k("prio_class", "", Sint),
    k("prio_offset", "", Sint),
    k("proc", "", Sint),
    h("query", "", Str),
    k("queue", "b", Sint),
    k("rand", "[i", Sint),
    k("rdp_cookie", "[s", Str),
    k("rdp_cookie_cnt", "[s", Sint),
    k("rep_ssl_hello_type", "", Sint),
    h("req.body", "", Bin),
    h("req.body_len", "", Sint),
    h("req.body_param", "[s", Bin),
    h("req.body_size", "", Sint),
    h("req.cook", "[s", Str),
    h("req.cook_cnt", "[s", Sint),
    h("req.cook_val", "[s", Sint),
    h("req.fhdr", "[si", Str),
    h("req.fhdr_cnt", "[s", Sint),
    h("req.hdr", "[si", Str),
    h("req.hdr_cnt", "[s", Sint),
    h("req.hdr_ip", "[si", Ipv4),
    h("req.hdr_names", "[s", Str),
    h("req.hdr_val", "[si", Sint),
    h("req.hdrs", "", Bin),
    h("req.hdrs_bin", "", Bin),
    k("req.len", "", Sint),
    k("req.payload", "ii", Bin),
    k("req.payload_lv", "ii[s", Bin),
    h("req.proto_http", "", Bool),
    k("req.rdp_cookie", "[s", Str),
    k("req.rdp_cookie_cnt", "[s", Sint),
    k("req.ssl_alpn", "", Str),
    k("req.ssl_ec_ext", "", Bool),
    k("req.ssl_hello_type", "", Sint),
    k("req.ssl_sni", "", Str),
    k("req.ssl_st_ext", "", Sint),
    k("req.ssl_ver", "", Sint),
    h("req.ver", "", Str),
    k("req_len", "", Sint),
    h("req_proto_http", "", Bool),
    k("req_ssl_hello_type", "", Sint),
    k("req_ssl_sni", "", Str),
    k("req_ssl_ver", "", Sint),
    h("req_ver", "", Str),
    h("res.body", "", Bin),
    h("res.body_len", "", Sint),
    h("res.body_size", "", Sint),
    h("res.cache_hit", "", Bool),
    h("res.cache_name", "", Str),
    h("res.comp", "", Bool),
    h("res.comp_algo", "", Str),
    h("res.cook", "[s", Str),
    h("res.cook_cnt", "[s", Sint),
    h("res.cook_val", "[s", Sint),
    h("res.fhdr", "[si", Str),
    h("res.fhdr_cnt", "[s", Sint),
    h("res.hdr", "[si", Str),
    h("res.hdr_cnt", "[s", Sint),
    h("res.hdr_ip", "[si", Ipv4),
    h("res.hdr_names", "[s", Str),
    h("res.hdr_val", "[si", Sint),
    h("res.hdrs", "", Bin),
    h("res.hdrs_bin", "", Bin),
    k("res.len", "", Sint),
    k("res.payload", "ii", Bin),
    k("res.payload_lv", "ii[s", Bin),
    k("res.ssl_hello_type", "", Sint),
    h("res.ver", "", Str),
    h("resp_ver", "", Str),
    k("sc1_clr_gpc", "i[t", Sint),
    k("sc_bytes_in_rate", "i[t", Sint),
    k("sc_bytes_out_rate", "i[t", Sint),
    k("sc_clr_gpc", "ii[t", Sint),
    k("sc_clr_gpc0", "i[t", Sint),
    k("sc_clr_gpc1", "i[t", Sint),
    k("sc_conn_cnt", "i[t", Sint),
    k("sc_conn_cur", "i[t", Sint),
    k("sc_conn_rate", "i[t", Sint),
    k("sc_get_gpc", "ii[t", Sint),
    k("sc_get_gpc0", "i[t", Sint),
    k("sc_get_gpc1", "i[t", Sint),
    k("sc_get_gpt", "ii[t", Sint),
    k("sc_get_gpt0", "i[t", Sint),
    k("sc_gpc0_rate", "i[t", Sint),
    k("sc_gpc1_rate", "i[t", Sint),
    k("sc_gpc_rate", "ii[t", Sint),
    k("sc_http_err_cnt", "i[t", Sint),
    k("sc_http_err_rate", "i[t", Sint),
    k("sc_http_fail_cnt", "i[t", Sint),
    k("sc_http_fail_rate", "i[t", Sint),
    k("sc_http_req_cnt", "i[t", Sint),
    k("sc_http_req_rate", "i[t", Sint),
    k("sc_inc_gpc", "ii[t", Sint),
    k("sc_inc_gpc0", "i[t", Sint),
    k("sc_inc_gpc1", "i[t", Sint),
    k("sc_kbytes_in", "i[t", Sint),
    k("sc_kbytes_out", "i[t", Sint),
    k("sc_sess_cnt", "i[t", Sint),
    k("sc_sess_rate", "i[t", Sint),
    k("sc_tracked", "i[t", Bool),
    k("sc_trackers", "i[t", Sint),
    h("scook", "[s", Str),
    h("scook_cnt", "[s", Sint),
    h("scook_val", "[s", Sint),
    h("shdr", "[si", Str),
    h("shdr_cnt", "[s", Sint),
    h("shdr_ip", "[si", Ipv4),
    h("shdr_val", "[si", Sint),
    k("so_id", "", Sint),
    k("so_name", "", Str),
    k("src", "", Ipv4),
    k("src_bytes_in_rate", "t", Sint),
    k("src_bytes_out_rate", "t", Sint),
    k("src_clr_gpc", "it", Sint),
    k("src_clr_gpc0", "t", Sint),
    k("src_clr_gpc1", "t", Sint),
    k("src_conn_cnt", "t", Sint),
    k("src_conn_cur", "t", Sint),
    k("src_conn_rate", "t", Sint),
    k("src_get_gpc", "it", Sint),
    k("src_get_gpc0", "t", Sint),
    k("src_get_gpc1", "t", Sint),
    k("src_get_gpt", "it", Sint),
    k("src_get_gpt0", "t", Sint),
    k("src_gpc0_rate", "t", Sint),
    k("src_gpc1_rate", "t", Sint),
    k("src_gpc_rate", "it", Sint),
    k("src_http_err_cnt", "t", Sint),
    k("src_http_err_rate", "t", Sint),
    k("src_http_fail_cnt", "t", Sint),
    k("src_http_fail_rate", "t", Sint),
    k("src_http_req_cnt", "t", Sint),
    k("src_http_req_rate", "t", Sint),
    k("src_inc_gpc", "it", Sint),
    k("src_inc_gpc0", "t", Sint),
    k("src_inc_gpc1", "t", Sint),
    k("src_is_local", "", Bool),
    k("src_kbytes_in", "t", Sint),
    k("src_kbytes_out", "t", Sint),
    k("src_port", "", Sint),
    k("src_sess_cnt", "t", Sint),
    k("src_sess_rate", "t", Sint),
    k("src_updt_conn_cnt", "t", Sint),
    k("srv_conn", "v", Sint),
    k("srv_conn_free", "v", Sint),
    k("srv_id", "", Sint),
    k("srv_is_up", "v", Bool),
    k("srv_iweight", "v", Sint),
    k("srv_name", "", Str),
    k("srv_queue", "v", Sint),
    k("srv_sess_rate", "v", Sint),
    k("srv_uweight", "v", Sint),
    k("srv_weight", "v", Sint),
    k("ssl_bc", "", Bool),
    k("ssl_bc_alg_keysize", "", Sint),
    k("ssl_bc_alpn", "", Str),
    k("ssl_bc_cipher", "", Str),
    k("ssl_bc_client_random", "", Bin),
    k("ssl_bc_err", "", Sint),
    k("ssl_bc_err_str", "", Str),
    k("ssl_bc_is_resumed", "", Bool),
    k("ssl_bc_npn", "", Str),
    k("ssl_bc_protocol", "", Str),
    k("ssl_bc_server_random", "", Bin),
    k("ssl_bc_session_id", "", Bin),
    k("ssl_bc_session_key", "", Bin),
    k("ssl_bc_unique_id", "", Bin),
    k("ssl_bc_use_keysize", "", Sint),
    k("ssl_c_ca_err", "", Sint),
    k("ssl_c_ca_err_depth", "", Sint),
    k("ssl_c_chain_der", "", Bin),
    k("ssl_c_der", "", Bin),
    k("ssl_c_err", "", Sint),
    k("ssl_c_i_dn", "[sis", Str),
    k("ssl_c_key_alg", "", Str),
    k("ssl_c_notafter", "", Str),
    k("ssl_c_notbefore", "", Str),
    k("ssl_c_s_dn", "[sis", Str),
    k("ssl_c_serial", "", Bin),
    k("ssl_c_sha1", "", Bin),
    k("ssl_c_sig_alg", "", Str),
    k("ssl_c_used", "", Bool),
    k("ssl_c_verify", "", Sint),
    k("ssl_c_version", "", Sint),
    k("ssl_f_der", "", Bin),
    k("ssl_f_i_dn", "[sis", Str),
    k("ssl_f_key_alg", "", Str),
    k("ssl_f_notafter", "", Str),
    k("ssl_f_notbefore", "", Str),
    k("ssl_f_s_dn", "[sis", Str),
    k("ssl_f_serial", "", Bin),
    k("ssl_f_sha1", "", Bin),
    k("ssl_f_sig_alg", "", Str),
    k("ssl_f_version", "", Sint),
    k("ssl_fc", "", Bool),
    k("ssl_fc_alg_keysize", "", Sint),
    k("ssl_fc_alpn", "", Str),
    k("ssl_fc_cipher", "", Str),
    k("ssl_fc_cipherlist_bin", "[i", Str),
    k("ssl_fc_cipherlist_hex", "[i", Bin),
    k("ssl_fc_cipherlist_str", "[i", Str),
    k("ssl_fc_cipherlist_xxh", "", Sint),
    k("ssl_fc_client_early_traffic_secret", "", Str),
    k("ssl_fc_client_handshake_traffic_secret", "", Str),
    k("ssl_fc_client_random", "", Bin),
    k("ssl_fc_client_traffic_secret_0", "", Str),
    k("ssl_fc_early_exporter_secret", "", Str),
    k("ssl_fc_ecformats_bin", "", Str),
    k("ssl_fc_eclist_bin", "[i", Str),
    k("ssl_fc_err", "", Sint),
    k("ssl_fc_err_str", "", Str),
    k("ssl_fc_exporter_secret", "", Str),
    k("ssl_fc_extlist_bin", "[i", Str),
    k("ssl_fc_has_crt", "", Bool),
    k("ssl_fc_has_early", "", Bool),
    k("ssl_fc_has_sni", "", Bool),
    k("ssl_fc_is_resumed", "", Bool),
    k("ssl_fc_npn", "", Str),
    k("ssl_fc_protocol", "", Str),
    k("ssl_fc_protocol_hello_id", "", Sint),
    k("ssl_fc_server_handshake_traffic_secret", "", Str),
    k("ssl_fc_server_random", "", Bin),
    k("ssl_fc_server_traffic_secret_0", "", Str),
    k("ssl_fc_session_id", "", Bin),
    k("ssl_fc_session_key", "", Bin),
    k("ssl_fc_sni", "", Str),
    k("ssl_fc_unique_id", "", Bin),
    k("ssl_fc_use_keysize", "", Sint),
    k("ssl_s_chain_der", "", Bin),
    k("ssl_s_der", "", Bin),
    k("ssl_s_i_dn", "[sis", Str),
    k("ssl_s_key_alg", "", Str),
    k("ssl_s_notafter", "", Str),
    k("ssl_s_notbefore", "", Str),
    k("ssl_s_s_dn", "[sis", Str),
    k("ssl_s_serial", "", Bin),
    k("ssl_s_sha1", "", Bin),
    k("ssl_s_sig_alg", "", Str),
    k("ssl_s_version", "", Sint),
    h("status", "", Sint),
    k("stopping", "", Bool),
    k("str", "s", Str),
    k("table_avl", "t", Sint),
    k("table_cnt", "t", Sint),
    k("thread", "", Sint),
    k("unique-id", "", Str),
    h("url", "", Str),
    h("url32", "", Sint),
    h("url32+src", "", Bin),
    h("url_ip", "", Ipv4),
    h("url_param", "[ss", Str),
    h("url_port", "", Sint),
    h("urlp", "[ss", Str),
    h("urlp_val", "[ss", Sint),
    k("uuid", "[i", Str),
    k("var", "s[s", Any),
    k("wait_end", "", Bool),
];

/// HAProxy 2.6 converters (section 7.3.1 of its manual).
static CONVERTERS: &[ConverterInfo] = &[
    c("51d.single", "s[ssss", Str, Str),
    c("add", "s", Sint, Sint),
    c("add_item", "ss[s", Str, Str),
    c("aes_gcm_dec", "isss", Bin, Bin),
    c("and", "s", Sint, Sint),
    c("b64dec", "", Str, Bin),
    c("base64", "", Bin, Str),
    c("be2dec", "s[ii", Bin, Str),
    c("be2hex", "s[ii", Bin, Str),
    c("bool", "", Sint, Bool),
    c("bytes", "i[i", Bin, Bin),
    c("capture-req", "i", Str, Str),
    c("capture-res", "i", Str, Str),
    c("concat", "s[ss", Str, Str),
    c("cpl", "", Sint, Sint),
    c("crc32", "[i", Bin, Sint),
    c("crc32c", "[i", Bin, Sint),
    c("cut_crlf", "", Str, Str),
    c("debug", "[ss", Any, Any),
    c("digest", "s", Bin, Bin),
    c("div", "s", Sint, Sint),
    c("djb2", "[i", Bin, Sint),
    c("even", "", Sint, Bool),
    c("field", "is[i", Str, Str),
    c("fix_is_valid", "", Bin, Bool),
    c("fix_tag_value", "s", Bin, Bin),
    c("hex", "", Bin, Str),
    c("hex2i", "", Str, Sint),
    c("hmac", "ss", Bin, Bin),
    c("host_only", "", Str, Str),
    c("htonl", "", Sint, Bin),
    c("http_date", "[is", Sint, Str),
    c("iif", "ss", Bool, Str),
    c("in_table", "t", Any, Bool),
    c("ipmask", "m[M", Addr, Ipv4),
    c("json", "s", Str, Str),
    c("json_query", "s[s", Str, Any),
    c("jwt_header_query", "[ss", Bin, Any),
    c("jwt_payload_query", "[ss", Bin, Any),
    c("jwt_verify", "ss", Bin, Sint),
    c("language", "s[s", Str, Str),
    c("length", "", Str, Sint),
    c("lower", "", Str, Str),
    c("ltime", "s[i", Sint, Str),
    c("ltrim", "s", Str, Str),
    c("map", "s[s", Str, Str),
    c("map_beg", "s[s", Str, Str),
    c("map_beg_int", "s[i", Str, Sint),
    c("map_beg_ip", "s[s", Str, Addr),
    c("map_dir", "s[s", Str, Str),
    c("map_dir_int", "s[i", Str, Sint),
    c("map_dir_ip", "s[s", Str, Addr),
    c("map_dom", "s[s", Str, Str),
    c("map_dom_int", "s[i", Str, Sint),
    c("map_dom_ip", "s[s", Str, Addr),
    c("map_end", "s[s", Str, Str),
    c("map_end_int", "s[i", Str, Sint),
    c("map_end_ip", "s[s", Str, Addr),
    c("map_int", "s[s", Sint, Str),
    c("map_int_int", "s[i", Sint, Sint),
    c("map_int_ip", "s[s", Sint, Addr),
    c("map_ip", "s[s", Addr, Str),
    c("map_ip_int", "s[i", Addr, Sint),
    c("map_ip_ip", "s[s", Addr, Addr),
    c("map_reg", "s[s", Str, Str),
    c("map_reg_int", "s[i", Str, Sint),
    c("map_reg_ip", "s[s", Str, Addr),
    c("map_regm", "s[s", Str, Str),
    c("map_str", "s[s", Str, Str),
    c("map_str_int", "s[i", Str, Sint),
    c("map_str_ip", "s[s", Str, Addr),
    c("map_sub", "s[s", Str, Str),
    c("map_sub_int", "s[i", Str, Sint),
    c("map_sub_ip", "s[s", Str, Addr),
    c("mod", "s", Sint, Sint),
    c("mqtt_field_value", "ss", Bin, Str),
    c("mqtt_is_valid", "", Bin, Bool),
    c("mul", "s", Sint, Sint),
    c("nbsrv", "", Str, Sint),
    c("neg", "", Sint, Sint),
    c("not", "", Sint, Bool),
    c("odd", "", Sint, Bool),
    c("or", "s", Sint, Sint),
    c("port_only", "", Str, Sint),
    c("protobuf", "p[s", Bin, Bin),
    c("regsub", "rs[s", Str, Str),
    c("rtrim", "s", Str, Str),
    c("sdbm", "[i", Bin, Sint),
    c("secure_memcmp", "s", Bin, Bool),
    c("set-var", "s[ssss", Any, Any),
    c("sha1", "", Bin, Bin),
    c("sha2", "[i", Bin, Bin),
    c("srv_queue", "", Str, Sint),
    c("strcmp", "s", Str, Sint),
    c("sub", "s", Sint, Sint),
    c("table_bytes_in_rate", "t", Any, Sint),
    c("table_bytes_out_rate", "t", Any, Sint),
    c("table_conn_cnt", "t", Any, Sint),
    c("table_conn_cur", "t", Any, Sint),
    c("table_conn_rate", "t", Any, Sint),
    c("table_expire", "t[i", Any, Sint),
    c("table_gpc", "it", Any, Sint),
    c("table_gpc0", "t", Any, Sint),
    c("table_gpc0_rate", "t", Any, Sint),
    c("table_gpc1", "t", Any, Sint),
    c("table_gpc1_rate", "t", Any, Sint),
    c("table_gpc_rate", "it", Any, Sint),
    c("table_gpt", "it", Any, Sint),
    c("table_gpt0", "t", Any, Sint),
    c("table_http_err_cnt", "t", Any, Sint),
    c("table_http_err_rate", "t", Any, Sint),
    c("table_http_fail_cnt", "t", Any, Sint),
    c("table_http_fail_rate", "t", Any, Sint),
    c("table_http_req_cnt", "t", Any, Sint),
    c("table_http_req_rate", "t", Any, Sint),
    c("table_idle", "t[i", Any, Sint),
    c("table_kbytes_in", "t", Any, Sint),
    c("table_kbytes_out", "t", Any, Sint),
    c("table_server_id", "t", Any, Sint),
    c("table_sess_cnt", "t", Any, Sint),
    c("table_sess_rate", "t", Any, Sint),
    c("table_trackers", "t", Any, Sint),
    c("ub64dec", "", Str, Bin),
    c("ub64enc", "", Bin, Str),
    c("ungrpc", "p[s", Bin, Bin),
    c("unset-var", "s", Any, Any),
    c("upper", "", Str, Str),
    c("url_dec", "[i", Str, Str),
    c("url_enc", "s", Str, Str),
    c("utime", "s[i", Sint, Str),
    c("word", "is[i", Str, Str),
    c("wt6", "[i", Bin, Sint),
    c("xor", "s", Sint, Sint),
    c("xxh3", "[i", Bin, Sint),
    c("xxh32", "[i", Bin, Sint),
    c("xxh64", "[i", Bin, Sint),
    c("da-csv-conv", "s[sssss", Str, Str),
];

/// Looks up a sample fetch, including the `sc0_`..`sc2_` forms of the `sc_` fetches.
pub fn fetch_info(name: &str) -> Option<SampleFetchInfo> {
    if let Some(info) = FETCHES.iter().find(|f| f.name == name) {
        return Some(*info);
    }
    // `scN_foo([table])` is `sc_foo(N[,table])`; the two-index families have no such form.
    let rest = ["sc0_", "sc1_", "sc2_"]
        .iter()
        .find_map(|p| name.strip_prefix(p))?;
    let base = FETCHES
        .iter()
        .find(|f| f.name.strip_prefix("sc_") == Some(rest))?;
    let args = base
        .args
        .strip_prefix('i')
        .filter(|a| !a.starts_with('i'))?;
    Some(SampleFetchInfo { args, ..*base })
}

pub fn converter_info(name: &str) -> Option<&'static ConverterInfo> {
    CONVERTERS.iter().find(|c| c.name == name)
}

impl Sample {
    /// The fetch's declaration (always present for a parsed sample).
    pub fn fetch_info(&self) -> Option<SampleFetchInfo> {
        fetch_info(self.fetch.name.as_str())
    }

    /// Whether the fetch needs HTTP, so the caller can warn about it in a TCP proxy.
    pub fn needs_http(&self) -> bool {
        self.fetch_info().is_some_and(|i| i.needs_http)
    }

    /// The type of the final value: the last converter's output, or the fetch's.
    pub fn output_type(&self) -> SmpType {
        match self.converters.last() {
            Some(c) => converter_info(c.name.as_str()).map_or(Any, |i| i.output),
            None => self.fetch_info().map_or(Any, |i| i.output),
        }
    }
}

/// Characters of fetch and converter names, as in HAProxy.
pub(crate) fn is_idchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | ':')
}

/// `name` or `name(args)`; offsets are relative to the text the call starts.
struct Call<'a> {
    name: &'a str,
    /// The unquoted arguments with their offsets; `None` without parentheses.
    args: Option<Vec<(String, usize)>>,
}

/// Reads `name[(args)]` at the start of `s`, returning it and the text after it. Arguments
/// are split on commas and may be quoted with `'` or `"`; outside single quotes a backslash
/// escapes `\`, a space or a quote, and `\r`, `\n`, `\t` are control characters.
fn call(s: &str) -> Result<(Call<'_>, &str), ValueError> {
    let parsed: IResult<&str, &str> = take_while(is_idchar)(s);
    let (rest, name) = parsed.unwrap_or((s, ""));
    let Some(inner) = rest.strip_prefix('(') else {
        return Ok((Call { name, args: None }, rest));
    };
    let base = name.len() + 1;
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut start = base;
    let mut quote: Option<(char, usize)> = None;
    let mut it = inner.char_indices().peekable();
    while let Some((i, ch)) = it.next() {
        match (ch, quote) {
            ('"' | '\'', None) => quote = Some((ch, base + i)),
            (q, Some((open, _))) if q == open => quote = None,
            ('\\', q) if q.is_none_or(|(open, _)| open == '"') => {
                match it.peek().map(|&(_, n)| n) {
                    Some(n @ ('\\' | ' ' | '"' | '\'')) => {
                        cur.push(n);
                        it.next();
                    }
                    Some(n @ ('r' | 'n' | 't')) => {
                        cur.push(match n {
                            'r' => '\r',
                            'n' => '\n',
                            _ => '\t',
                        });
                        it.next();
                    }
                    Some(_) => cur.push('\\'),
                    None => {
                        return Err(ValueError::new(
                            base + i,
                            "unterminated escape sequence at the end of the arguments",
                        )
                        .with_hint("write '\\\\' for a backslash"));
                    }
                }
            }
            (',' | ')', None) => {
                args.push((std::mem::take(&mut cur), start));
                start = base + i + 1;
                if ch == ')' {
                    return Ok((
                        Call {
                            name,
                            args: Some(args),
                        },
                        &inner[i + 1..],
                    ));
                }
            }
            _ => cur.push(ch),
        }
    }
    Err(match quote {
        Some((q, at)) => ValueError::new(
            at,
            format!("unterminated quote {q} in the arguments of '{name}'"),
        )
        .with_hint("close the quote before the closing parenthesis"),
        None => ValueError::new(
            name.len(),
            format!("missing ')' after the arguments of '{name}'"),
        )
        .with_hint(
            "arguments are written in parentheses, separated by commas, as in req.hdr(host,1)",
        ),
    })
}

/// Human-readable usage of a keyword, as `hdr([string,integer])`.
fn usage(name: &str, sig: &str) -> String {
    let word = |c: char| match c {
        's' => "string",
        'i' => "integer",
        'b' => "backend",
        'f' => "frontend",
        't' => "table",
        'v' => "server",
        'u' => "userlist",
        'r' => "regex",
        '4' => "IPv4 address",
        '6' => "IPv6 address",
        'm' => "IPv4 mask",
        'M' => "IPv6 mask",
        _ => "field path",
    };
    let (mandatory, optional) = sig.split_once('[').unwrap_or((sig, ""));
    let mut out = mandatory.chars().map(word).collect::<Vec<_>>().join(",");
    if !optional.is_empty() {
        let sep = if out.is_empty() { "" } else { "," };
        out = format!(
            "{out}[{sep}{}]",
            optional.chars().map(word).collect::<Vec<_>>().join(",")
        );
    }
    format!("usage: {name}({out})")
}

/// Converts the raw arguments of `call` following signature `sig`, the way HAProxy does: a
/// missing mandatory argument is read as one empty argument (fine for strings), an empty
/// optional non-string argument ends the list.
fn typed_args(call: &Call<'_>, sig: &str) -> Result<Vec<Arg>, ValueError> {
    let name = call.name;
    let (mandatory, _) = sig.split_once('[').unwrap_or((sig, ""));
    let min = mandatory.len();
    let types: Vec<char> = sig.chars().filter(|&c| c != '[').collect();
    let raw = match &call.args {
        None if min == 0 => return Ok(Vec::new()),
        None => vec![(String::new(), name.len())],
        Some(a) => a.clone(),
    };
    let hint = || usage(name, sig);
    if types.is_empty() {
        return match raw.as_slice() {
            [(t, _)] if t.is_empty() => Ok(Vec::new()),
            _ => Err(ValueError::new(
                raw.first().map_or(0, |r| r.1),
                format!("'{name}' does not take any argument"),
            )
            .with_hint(hint())),
        };
    }
    if let Some((_, at)) = raw.get(types.len()) {
        return Err(
            ValueError::new(*at, format!("too many arguments for '{name}'")).with_hint(hint()),
        );
    }
    let mut out = Vec::new();
    for (i, ((text, at), &ty)) in raw.iter().zip(&types).enumerate() {
        if ty == 'u' && text.is_empty() {
            return Err(
                ValueError::new(*at, format!("missing userlist name for '{name}'"))
                    .with_hint(hint()),
            );
        }
        if text.is_empty() && !"sbftv".contains(ty) {
            if i >= min {
                break;
            }
            return Err(
                ValueError::new(*at, format!("missing argument {} of '{name}'", i + 1))
                    .with_hint(hint()),
            );
        }
        let arg = typed_arg(text, ty).map_err(|m| {
            ValueError::new(*at, format!("argument {} of '{name}': {m}", i + 1)).with_hint(hint())
        })?;
        out.push(arg);
    }
    if out.len() < min {
        let at = raw.last().map_or(name.len(), |(_, a)| *a);
        return Err(ValueError::new(
            at,
            format!(
                "'{name}' expects at least {min} arguments, got {}",
                out.len()
            ),
        )
        .with_hint(hint()));
    }
    Ok(out)
}

fn typed_arg(text: &str, ty: char) -> Result<Arg, String> {
    let ip = |r: Option<IpAddr>, what: &str| {
        r.map(Arg::Ip)
            .ok_or_else(|| format!("'{text}' is not a valid {what}"))
    };
    match ty {
        'i' => parse_int(text, i64::MIN, i64::MAX)
            .map(Arg::Int)
            .map_err(|e| e.message),
        '4' => ip(
            text.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
            "IPv4 address",
        ),
        '6' => ip(
            text.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
            "IPv6 address",
        ),
        'm' if text.contains('.') => ip(text.parse::<Ipv4Addr>().ok().map(IpAddr::V4), "IPv4 mask"),
        'm' => ip(
            text.parse::<u32>()
                .ok()
                .filter(|&l| l <= 32)
                .map(|l| IpAddr::V4(Ipv4Addr::from_bits(prefix_bits(l)))),
            "IPv4 mask (a length from 0 to 32 or a dotted mask)",
        ),
        'M' if text.contains(':') => ip(text.parse::<Ipv6Addr>().ok().map(IpAddr::V6), "IPv6 mask"),
        'M' => ip(
            text.parse::<u32>().ok().filter(|&l| l <= 128).map(|l| {
                let bits = u128::MAX.checked_shl(128 - l).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from_bits(bits))
            }),
            "IPv6 mask (a length from 0 to 128)",
        ),
        'p' if text.starts_with(|c: char| c.is_ascii_digit())
            && text.bytes().all(|b| b.is_ascii_digit() || b == b'.') =>
        {
            Ok(Arg::Str(text.to_string()))
        }
        'p' => Err(format!("'{text}' is not a dotted list of field numbers")),
        'r' => check_regex(text, false).map(|()| Arg::Str(text.to_string())),
        _ => Ok(Arg::Str(text.to_string())),
    }
}

fn prefix_bits(len: u32) -> u32 {
    u32::MAX.checked_shl(32 - len).unwrap_or(0)
}

/// Compiles a regex to validate it; the runtime compiles it again with its own options.
pub(crate) fn check_regex(re: &str, ignore_case: bool) -> Result<(), String> {
    regex::RegexBuilder::new(re)
        .case_insensitive(ignore_case)
        .build()
        .map(|_| ())
        .map_err(|e| match e {
            regex::Error::Syntax(s) => {
                let last = s
                    .lines()
                    .rfind(|l| l.starts_with("error:"))
                    .unwrap_or("invalid syntax");
                format!(
                    "invalid regex '{re}': {}",
                    last.trim_start_matches("error:").trim()
                )
            }
            other => format!("invalid regex '{re}': {other}"),
        })
}

/// Checks a variable name: a scope (`proc.`, `sess.`, `txn.`, `req.`, `res.`, `check.`) and
/// then letters, digits, `_` and `.`.
pub fn check_var_name(name: &str) -> Result<(), ValueError> {
    let hint = "a variable name starts with its scope: proc., sess., txn., req., res. or check., as in txn.my_var";
    let Some(rest) = ["proc.", "sess.", "txn.", "req.", "res.", "check."]
        .iter()
        .find_map(|p| name.strip_prefix(p).filter(|r| !r.is_empty()))
    else {
        return Err(ValueError::new(0, format!("invalid variable name '{name}'")).with_hint(hint));
    };
    match rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')) {
        Some(i) => Err(ValueError::new(
            name.len() - rest.len() + i,
            format!("invalid character in variable name '{name}'"),
        )
        .with_hint(hint)),
        None => Ok(()),
    }
}

/// Keyword-specific checks HAProxy runs on arguments. Returns the index of the bad argument.
fn check_args(name: &str, is_fetch: bool, args: &mut [Arg]) -> Result<(), (usize, ValueError)> {
    let var_arg = |args: &[Arg], i: usize| match args.get(i) {
        Some(Arg::Str(v)) if !v.is_empty() || i == 0 => check_var_name(v).map_err(|e| (i, e)),
        _ => Ok(()),
    };
    match (is_fetch, name) {
        (true, "var") | (false, "set-var" | "unset-var" | "strcmp" | "secure_memcmp") => {
            var_arg(args, 0)
        }
        (false, "concat" | "add_item") => var_arg(args, 1),
        // Arithmetic operands are an integer or the name of a variable holding one; an
        // empty operand reads as 0, as in HAProxy.
        (false, "add" | "sub" | "mul" | "div" | "mod" | "and" | "or" | "xor") => {
            if let Some(Arg::Str(v)) = args.first() {
                match parse_int(v, i64::MIN, i64::MAX) {
                    Ok(n) => args[0] = Arg::Int(n),
                    Err(_) if v.is_empty() => args[0] = Arg::Int(0),
                    Err(_) => var_arg(args, 0)?,
                }
            }
            Ok(())
        }
        (false, name) if name.starts_with("map") => match args.first() {
            Some(Arg::Str(f)) if f.is_empty() => Err((
                0,
                ValueError::new(0, format!("'{name}' needs a map file name")),
            )),
            _ => Ok(()),
        },
        (false, "field" | "word") => match args {
            [Arg::Int(0), ..] => Err((
                0,
                ValueError::new(0, "the field index must not be 0")
                    .with_hint("fields are numbered from 1; negative numbers count from the end"),
            )),
            [_, Arg::Str(d), ..] if d.is_empty() => {
                Err((1, ValueError::new(0, "empty list of delimiters")))
            }
            _ => Ok(()),
        },
        (true, "date") | (false, "http_date") => match args.get(1) {
            Some(Arg::Str(u)) if !["s", "ms", "us"].contains(&u.as_str()) => Err((
                1,
                ValueError::new(0, format!("unknown time unit '{u}'"))
                    .with_hint("expected s, ms or us"),
            )),
            _ => Ok(()),
        },
        (false, "sha2") => match args.first() {
            Some(Arg::Int(b)) if ![224, 256, 384, 512].contains(b) => Err((
                0,
                ValueError::new(0, format!("unsupported number of bits {b}"))
                    .with_hint("expected 224, 256, 384 or 512"),
            )),
            _ => Ok(()),
        },
        (false, "json") => match args.first() {
            Some(Arg::Str(v))
                if !["", "ascii", "utf8", "utf8s", "utf8p", "utf8ps"].contains(&v.as_str()) =>
            {
                Err((
                    0,
                    ValueError::new(0, format!("unknown input code '{v}' for 'json'"))
                        .with_hint("expected ascii, utf8, utf8s, utf8p or utf8ps"),
                ))
            }
            _ => Ok(()),
        },
        (false, "regsub") => {
            let flags = match args.get(2) {
                Some(Arg::Str(f)) => f.as_str(),
                _ => "",
            };
            if let Some(bad) = flags.chars().find(|c| !matches!(c, 'g' | 'i')) {
                return Err((
                    2,
                    ValueError::new(0, format!("unknown regsub flag '{bad}'"))
                        .with_hint("flags are 'g' (global) and 'i' (ignore case)"),
                ));
            }
            match args.first() {
                Some(Arg::Str(re)) => {
                    check_regex(re, flags.contains('i')).map_err(|m| (0, ValueError::new(0, m)))
                }
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// A fetch or converter call after lookup and argument checks, and the text after it.
struct Keyword<'a> {
    name: &'a str,
    args: Vec<Arg>,
    input: SmpType,
    output: SmpType,
    rest: &'a str,
}

/// Parses one call as fetch or converter: name lookup, typed arguments, keyword checks.
/// `at` is the offset of `s` in the whole expression, for error positions.
fn keyword(s: &str, at: usize, is_fetch: bool) -> Result<Keyword<'_>, ValueError> {
    let (call, rest) = call(s).map_err(|e| e.shifted(at))?;
    let name = call.name;
    let what = if is_fetch {
        "sample fetch"
    } else {
        "converter"
    };
    let info = if is_fetch {
        fetch_info(name).map(|i| (i.args, Any, i.output))
    } else {
        converter_info(name).map(|i| (i.args, i.input, i.output))
    };
    let Some((sig, input, output)) = info else {
        if name.is_empty() {
            let found = s
                .chars()
                .next()
                .map_or("nothing".to_string(), |c| format!("'{c}'"));
            return Err(ValueError::new(
                at,
                format!("missing {what} name, found {found}"),
            ));
        }
        let mut err = ValueError::new(at, format!("unknown {what} '{name}'"));
        let suggestion = if is_fetch {
            let derived: Vec<String> = FETCHES
                .iter()
                .filter_map(|f| f.name.strip_prefix("sc_"))
                .flat_map(|r| (0..3).map(move |n| format!("sc{n}_{r}")))
                .collect();
            did_you_mean(
                name,
                FETCHES
                    .iter()
                    .map(|f| f.name)
                    .chain(derived.iter().map(String::as_str)),
            )
            .map(str::to_string)
        } else {
            did_you_mean(name, CONVERTERS.iter().map(|c| c.name)).map(str::to_string)
        };
        if let Some(s) = suggestion {
            err = err.with_hint(format!("did you mean '{s}'?"));
        }
        return Err(err);
    };
    let mut args = typed_args(&call, sig).map_err(|e| e.shifted(at))?;
    check_args(name, is_fetch, &mut args).map_err(|(i, e)| {
        let arg_at = call
            .args
            .as_ref()
            .and_then(|a| a.get(i))
            .map_or(0, |(_, p)| *p);
        e.shifted(at + arg_at)
    })?;
    Ok(Keyword {
        name,
        args,
        input,
        output,
        rest,
    })
}

/// Parses converters from `s` (starting right after the previous keyword, or at a converter
/// name when `continuation`), appending to `out`. Returns the offset where parsing stopped.
fn converters(
    s: &str,
    mut ty: SmpType,
    prev: &str,
    continuation: bool,
    whole: bool,
    out: &mut Vec<Converter>,
) -> Result<usize, ValueError> {
    let mut pos = 0;
    let mut prev = prev.to_string();
    loop {
        let rest = &s[pos..];
        if rest.is_empty() {
            return Ok(pos);
        }
        if !(continuation && pos == 0) {
            if !rest.starts_with(',') {
                if !whole {
                    return Ok(pos);
                }
                return Err(ValueError::new(pos, format!("unexpected '{rest}' after '{prev}'"))
                    .with_hint("converters follow the fetch, separated by commas, as in req.hdr(host),lower"));
            }
            // Repeated and trailing commas are tolerated, as in HAProxy.
            pos += rest.len() - rest.trim_start_matches(',').len();
            if pos == s.len() && whole {
                return Ok(pos);
            }
        }
        let Keyword {
            name,
            args,
            input,
            output,
            rest: after,
        } = keyword(&s[pos..], pos, false)?;
        if !ty.can_cast(input) {
            return Err(ValueError::new(
                pos,
                format!("converter '{name}' cannot be applied to the output of '{prev}'"),
            )
            .with_hint(format!("'{prev}' gives {ty:?}, '{name}' expects {input:?}")));
        }
        ty = output;
        prev = name.to_string();
        let name = ConvName::implemented(name).unwrap_or_else(|| ConvName::Other(name.to_string()));
        out.push(Converter { name, args });
        pos = s.len() - after.len();
    }
}

fn sample_from(s: &str, whole: bool) -> Result<Sample, ValueError> {
    let Keyword {
        name,
        args,
        output,
        rest,
        ..
    } = keyword(s, 0, true)?;
    let fetch = Fetch {
        name: FetchName::implemented(name).unwrap_or_else(|| FetchName::Other(name.to_string())),
        args,
    };
    let mut converters_out = Vec::new();
    let start = s.len() - rest.len();
    let used = converters(rest, output, name, false, whole, &mut converters_out)
        .map_err(|e| e.shifted(start))?;
    Ok(Sample {
        fetch,
        converters: converters_out,
        len: start + used,
    })
}

/// Parses a whole string as a sample expression.
pub fn parse_sample(s: &str) -> Result<Sample, ValueError> {
    sample_from(s, true)
}

/// Parses the sample expression at the start of `s` and stops at the first character that
/// cannot continue it (as inside `%[...]`); `len` tells where it stopped.
pub fn parse_sample_prefix(s: &str) -> Result<Sample, ValueError> {
    sample_from(s, false)
}

/// Parses a sample from rule words: the first word, then following words as long as they
/// start with a converter name (HAProxy accepts `src lower` like `src,lower`). Returns the
/// sample and how many words it used; errors carry the index of the word.
pub fn parse_sample_words(words: &[Word]) -> Result<(Sample, usize), (ValueError, usize)> {
    let first = words.first().map_or("", |w| w.text.as_str());
    let mut sample = parse_sample(first).map_err(|e| (e, 0))?;
    let mut used = 1;
    while let Some(w) = words.get(used) {
        let name_len = w.text.find(|c| !is_idchar(c)).unwrap_or(w.text.len());
        if name_len == 0 || converter_info(&w.text[..name_len]).is_none() {
            break;
        }
        let prev = sample
            .converters
            .last()
            .map_or(sample.fetch.name.as_str(), |c| c.name.as_str())
            .to_string();
        converters(
            &w.text,
            sample.output_type(),
            &prev,
            true,
            true,
            &mut sample.converters,
        )
        .map_err(|e| (e, used))?;
        used += 1;
    }
    Ok((sample, used))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::lexer::lex_line;
    use std::collections::HashMap;

    #[test]
    fn tables_are_consistent() {
        for f in FetchName::IMPLEMENTED {
            assert!(fetch_info(f.as_str()).is_some(), "{f}");
        }
        for c in ConvName::IMPLEMENTED {
            assert!(converter_info(c.as_str()).is_some(), "{c}");
        }
        let valid = |sig: &str| {
            sig.matches('[').count() <= 1 && sig.chars().all(|c| "[sibftvur46mMp".contains(c))
        };
        assert!(FETCHES.iter().all(|f| valid(f.args)));
        assert!(CONVERTERS.iter().all(|c| valid(c.args)));
        assert_eq!(fetch_info("sc1_conn_cnt").map(|i| i.args), Some("[t"));
        assert_eq!(fetch_info("sc1_clr_gpc").map(|i| i.args), Some("i[t"));
        assert_eq!(fetch_info("sc0_get_gpt"), None);
        assert_eq!(fetch_info("sc3_conn_cnt"), None);
    }

    #[test]
    fn samples_ok() {
        let cases = [
            ("src", "src"),
            ("dst_port", "dst_port"),
            ("hdr(host)", "hdr(host)"),
            ("req.hdr(x-forwarded-for,1)", "req.hdr(x-forwarded-for,1)"),
            ("req.hdr(x-forwarded-for,-1)", "req.hdr(x-forwarded-for,-1)"),
            ("req.cook(SERVERID)", "req.cook(SERVERID)"),
            ("path,lower", "path,lower"),
            (
                "req.hdr(host),lower,map_str(/etc/map.txt,default)",
                "req.hdr(host),lower,map_str(/etc/map.txt,default)",
            ),
            ("url_param(id)", "url_param(id)"),
            ("ssl_fc", "ssl_fc"),
            ("var(txn.foo)", "var(txn.foo)"),
            ("str(\"a,b\")", "str(\"a,b\")"),
            ("str('a,b')", "str(\"a,b\")"),
            ("str(x\\ y)", "str(\"x y\")"),
            ("str()", "str()"),
            ("str", "str()"),
            ("hdr()", "hdr()"),
            ("src()", "src"),
            ("rand()", "rand"),
            ("src,ipmask(24)", "src,ipmask(255.255.255.0)"),
            (
                "src,ipmask(24,64)",
                "src,ipmask(255.255.255.0,ffff:ffff:ffff:ffff::)",
            ),
            ("src,,lower,", "src,lower"),
            ("be_conn", "be_conn()"),
            ("sc0_conn_cur", "sc0_conn_cur"),
            ("sc_conn_cur(1,t)", "sc_conn_cur(1,t)"),
            ("req.hdr(host),add(3)", "req.hdr(host),add(3)"),
            ("int(5),add(txn.x)", "int(5),add(txn.x)"),
            ("path,regsub(^/api/,/,g)", "path,regsub(^/api/,/,g)"),
            ("date(3600,ms)", "date(3600,ms)"),
            ("ipv4(10.0.0.1)", "ipv4(10.0.0.1)"),
            ("capture.req.hdr(0)", "capture.req.hdr(0)"),
            ("unique-id", "unique-id"),
            ("base32+src", "base32+src"),
        ];
        for (s, want) in cases {
            let got = parse_sample(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(got.to_string(), want, "{s}");
            assert_eq!(got.len, s.len(), "{s}");
        }
    }

    #[test]
    fn samples_typed() {
        let s = parse_sample("req.hdr(host,1),lower,map_str(/m.txt)").expect("parses");
        assert_eq!(
            s.fetch,
            Fetch {
                name: FetchName::ReqHdr,
                args: vec![Arg::Str("host".into()), Arg::Int(1)]
            }
        );
        assert_eq!(s.converters[0].name, ConvName::Lower);
        assert_eq!(s.converters[1].args, [Arg::Str("/m.txt".into())]);
        assert!(s.needs_http());
        assert_eq!(s.output_type(), SmpType::Str);
        let s = parse_sample("sc0_conn_cnt,json_query(x)").expect("parses");
        assert_eq!(s.fetch.name, FetchName::Other("sc0_conn_cnt".into()));
        assert_eq!(s.converters[0].name, ConvName::Other("json_query".into()));
        assert!(!parse_sample("src").expect("src").needs_http());
        assert_eq!(
            parse_sample("src").expect("src").output_type(),
            SmpType::Ipv4
        );
    }

    #[test]
    fn samples_fail() {
        let cases = [
            ("", 0, "missing sample fetch"),
            ("hdrr(host)", 0, "unknown sample fetch 'hdrr'"),
            ("path,lowr", 5, "unknown converter 'lowr'"),
            ("hdr(host", 3, "missing ')'"),
            ("hdr(host,1,2)", 11, "too many arguments"),
            ("hdr(host,x)", 9, "argument 2 of 'hdr'"),
            ("str(\"abc)", 4, "unterminated quote"),
            ("str(abc\\", 7, "unterminated escape"),
            ("src(x)", 4, "does not take any argument"),
            ("int", 3, "missing argument 1"),
            ("int()", 4, "missing argument 1"),
            ("bytes", 0, "unknown sample fetch"),
            ("req.payload(0)", 12, "expects at least 2"),
            ("var(foo)", 4, "invalid variable name"),
            ("var(txn.a-b)", 9, "invalid character"),
            ("src,ipmask(33)", 11, "IPv4 mask"),
            ("path,regsub((,x)", 12, "invalid regex"),
            ("path,regsub(a,b,q)", 16, "unknown regsub flag"),
            ("path lower", 4, "unexpected ' lower'"),
            ("path,json(x)", 10, "unknown input code"),
            ("method,add(1)", 7, "cannot be applied"),
            ("path,", 5, ""),
            ("src)", 3, "unexpected ')'"),
            ("str(a\\,b)", 7, "too many arguments"),
        ];
        for (s, at, msg) in cases {
            match parse_sample(s) {
                Ok(v) if s == "path," => assert_eq!(v.converters.len(), 0),
                Ok(v) => panic!("{s} parsed as {v}"),
                Err(e) => {
                    assert_eq!(e.at, at, "{s}: {e}");
                    assert!(e.message.contains(msg), "{s}: {e}");
                }
            }
        }
        let e = parse_sample("hdrr(host)").expect_err("typo");
        assert_eq!(e.hint.as_deref(), Some("did you mean 'hdr'?"));
        let e = parse_sample("sc0_conn_cn").expect_err("typo");
        assert_eq!(e.hint.as_deref(), Some("did you mean 'sc0_conn_cnt'?"));
    }

    #[test]
    fn prefix_and_words() {
        let s = parse_sample_prefix("req.hdr(a]b),lower]rest").expect("parses");
        assert_eq!(s.len, 18);
        assert_eq!(s.fetch.args, [Arg::Str("a]b".into())]);
        assert!(parse_sample_prefix("src,]").is_err());
        let words = lex_line("src lower,upper if TRUE", &HashMap::new()).expect("lexes");
        let (s, used) = parse_sample_words(&words).expect("parses");
        assert_eq!((s.to_string().as_str(), used), ("src,lower,upper", 2));
        let words = lex_line("src table t", &HashMap::new()).expect("lexes");
        assert_eq!(parse_sample_words(&words).map(|(_, n)| n), Ok(1));
        let words = lex_line("src lower(x)", &HashMap::new()).expect("lexes");
        assert_eq!(
            parse_sample_words(&words).map_err(|(e, i)| (e.at, i)),
            Err((6, 1))
        );
    }

    #[test]
    fn var_names() {
        for ok in ["txn.a", "proc.a.b_c", "check.x", "req.X1"] {
            assert!(check_var_name(ok).is_ok(), "{ok}");
        }
        for bad in ["txn.", "foo", "txn.a b", ""] {
            assert!(check_var_name(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_round_trips(
            head in proptest::sample::select(vec!["str", "hdr", "src", "int", "var", "url_param", "path,lower", ""]),
            tail in "[a-z_.(),'\"\\\\ 0-9-]{0,24}",
        ) {
            let s = format!("{head}{tail}");
            if let Ok(v) = parse_sample(&s) {
                let again = parse_sample(&v.to_string()).map(|a| Sample { len: v.len, ..a });
                proptest::prop_assert_eq!(again, Ok(v));
            }
            let _ = parse_sample_prefix(&s);
        }
    }
}
