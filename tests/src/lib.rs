//! Helpers shared by the scenario tests in `tests/tests/`.

pub mod archives;
pub mod driver_suite;
pub mod driver_suite_hostile;
pub mod layers;
pub mod raw_tar;
