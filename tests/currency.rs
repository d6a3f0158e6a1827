//! Currency conversion with a pipeline's own rate table, end to end (`cmap map`): the
//! table wins whole, in its own base, whatever the standard library's says.

use serde_json::{json, Value};

use crate::support::cmap_in;

/// `rates` and one mapping per conversion; maps one record `{ usd: 150, eur: 100, gbp:
/// 80 }` and returns the shard's structuredData and the check's stderr.
fn convert(rates: &str, conversions: &[(&str, &str, &str, &str)]) -> (Value, String) {
    let mappings: String = conversions
        .iter()
        .map(|(target, field, from, to)| {
            format!("  {target} = {field} | currency_convert(\"{from}\", \"{to}\")\n")
        })
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("p.cmap");
    std::fs::write(
        &file,
        format!(
            "{rates}\nschema s {{\n  source rest.deal\n  target c_opportunity\n  dedupe external_id(id)\n{mappings}}}\n"
        ),
    )
    .expect("write");
    let r = cmap_in(
        &crate::support::root(),
        &[
            "map",
            file.to_str().expect("utf-8"),
            "--schema",
            "s",
            "--input",
            "-",
        ],
        Some(r#"{"id": "d1", "usd": 150, "eur": 100, "gbp": 80}"#),
    );
    r.code(0);
    let shard: Value = serde_json::from_str(r.stdout.trim()).expect("one shard");
    (shard["structuredData"].clone(), r.stderr)
}

#[test]
fn a_pipeline_rate_table_in_another_base_wins_whole() {
    // The issue's case: 1 EUR buys 1.5 USD or 0.8 GBP. Merged with the standard
    // library's USD table, 150 USD became 138 EUR.
    let (data, stderr) = convert(
        "rates EUR { USD: 1.5, GBP: 0.8 }",
        &[
            ("usdEur", "usd", "USD", "EUR"),
            ("eurUsd", "eur", "EUR", "USD"),
            ("gbpEur", "gbp", "GBP", "EUR"),
            ("eurGbp", "eur", "EUR", "GBP"),
            ("usdGbp", "usd", "USD", "GBP"),
            ("gbpUsd", "gbp", "GBP", "USD"),
        ],
    );
    assert_eq!(
        data,
        json!({"usdEur": 100, "eurUsd": 150, "gbpEur": 100, "eurGbp": 80, "usdGbp": 80, "gbpUsd": 150}),
        "{stderr}"
    );
    // `check` says what the table replaces.
    assert!(
        stderr.contains("W0112") && stderr.contains("replace the standard library's `rates USD`"),
        "{stderr}"
    );
}

#[test]
fn without_a_pipeline_table_the_standard_library_converts() {
    let (data, stderr) = convert("", &[("usdEur", "usd", "USD", "EUR")]);
    // stdlib/rates.cmap: 1 USD buys 0.92 EUR.
    assert_eq!(data["usdEur"].as_f64(), Some(150.0 * 0.92), "{stderr}");
    assert!(!stderr.contains("W0112"), "{stderr}");
}
