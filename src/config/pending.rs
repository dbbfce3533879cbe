//! Keywords recognised but not applied yet (warned) or never supported (rejected), by section.
