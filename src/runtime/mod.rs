//! Runtime: the streaming interpreter over the IR, one record at a time.
