//! The overlayfs graph driver.
