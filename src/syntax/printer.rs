//! AST -> canonical `.cmap` text (`cmap fmt`, `cmap import`).
