//! idealstack-sftp: placeholder, filled in by its issue.
