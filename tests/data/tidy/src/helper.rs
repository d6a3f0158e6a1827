//! A leaf with no rule of its own: every module may use it.

pub fn help() {}
