//! idealstack-manifest: placeholder, filled in by its issue.
