//! Three levels up is the crate root.

use super::super::super::serve::Server;
use super::super::lower;
