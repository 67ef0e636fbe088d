//! idealstack-templates: placeholder, filled in by its issue.
