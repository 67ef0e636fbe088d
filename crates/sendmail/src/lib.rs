//! idealstack-sendmail: placeholder, filled in by its issue.
