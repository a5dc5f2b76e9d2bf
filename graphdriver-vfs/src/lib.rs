//! The copy-based graph driver: works on any filesystem and as any user.
