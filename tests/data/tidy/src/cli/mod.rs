//! The command line may use anything and print.

pub fn main() {
    println!("{}", crate::engine::Engine as u8);
}
