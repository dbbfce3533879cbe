//! ACL definitions (`acl NAME criterion [flags] [operator] values`) and conditions
//! (`if|unless` with `!`, `||`/`or`, implicit AND and anonymous `{ ... }` ACLs).
