//! Parser tests: the AST rendered compactly, and diagnostics rendered one per line.

use super::parse;
use crate::syntax::printer::print;

#[test]
fn smoke() {
    let text = include_str!("../../../docs/language.md");
    let start = text.find("```cmap\n").unwrap() + 8;
    let end = start + text[start..].find("```").unwrap();
    let (doc, diags) = parse(0, &text[start..end]);
    println!("{diags:#?}");
    println!("{}", print(&doc, None));
}
