"""Cross-cutting helpers every layer may use: JSON, metrics, tracing, signing, shared calls."""
