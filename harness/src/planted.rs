//! Planted differences (feature `planted-differences`, test fence only):
//! a test names a configuration, and that configuration's driver then marks
//! every call's result, so each differential oracle must report it. Without
//! the feature nothing is ever planted.

#[cfg(feature = "planted-differences")]
mod fence {
    use std::cell::Cell;

    thread_local! {
        static PLANTED: Cell<Option<&'static str>> = const { Cell::new(None) };
    }

    /// From now on this thread's runs of `configuration` (e.g. "TurboFan",
    /// "QuickJS") print perturbed results; `None` stops it.
    pub fn plant_difference(configuration: Option<&'static str>) {
        PLANTED.with(|p| p.set(configuration));
    }

    pub(crate) fn is_planted(configuration: &str) -> bool {
        PLANTED.with(|p| p.get() == Some(configuration))
    }
}

#[cfg(feature = "planted-differences")]
pub use fence::plant_difference;

#[cfg(feature = "planted-differences")]
pub(crate) use fence::is_planted;

#[cfg(not(feature = "planted-differences"))]
pub(crate) fn is_planted(_configuration: &str) -> bool {
    false
}
