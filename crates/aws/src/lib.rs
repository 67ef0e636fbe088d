//! idealstack-aws: placeholder, filled in by its issue.
