//! The closed set of check types and the one place that dispatches to their `CheckType`.
//!
//! `check_kinds!` is invoked once, in `checks/mod.rs`, with one line per type:
//! `Variant(folder::ConfigStruct)`. The line declares the type's module (its folder) and its
//! variant of `CheckKind`; the compiler checks that the struct implements `CheckType`, and
//! everything that lists types (`type_names`, the did-you-mean of `type`, the connectivity
//! gate's network types, the template) is derived from these lines, in their order.

use super::{Cause, Chart, Check, CheckKind, Schedule};
#[cfg(test)]
use crate::model::Layer;

macro_rules! check_kinds {
    ($($variant:ident($module:ident::$kind:ident),)+) => {
        $(pub mod $module;)+

        /// A configured check's own settings, by its `type`.
        #[derive(Debug, Clone, PartialEq)]
        pub enum CheckKind {
            $($variant($module::$kind),)+
        }

        impl CheckKind {
            /// Every `type` a check can have, in registration order.
            pub fn type_names() -> Vec<&'static str> {
                let mut names = Vec::new();
                $(names.extend_from_slice(<$module::$kind as $crate::checks::CheckType>::types());)+
                names
            }

            /// Each type's example for the `config init` template, in registration order.
            pub fn templates() -> Vec<&'static str> {
                vec![$(<$module::$kind as $crate::checks::CheckType>::template(),)+]
            }

            /// Reads the keys of a check of `type_name`; `None` when no type has that name.
            pub(crate) fn read(
                type_name: &str,
                r: &mut $crate::base::schema::Reader<'_>,
                table: &$crate::base::schema::Table<'_, '_>,
            ) -> Option<CheckKind> {
                $(if <$module::$kind as $crate::checks::CheckType>::types().contains(&type_name) {
                    return Some(CheckKind::$variant(<$module::$kind as $crate::checks::CheckType>::read(type_name, r, table)));
                })+
                None
            }

            /// The layer of a check of `type_name` without a `layer` key.
            pub fn default_layer(type_name: &str) -> $crate::model::Layer {
                $(if <$module::$kind as $crate::checks::CheckType>::types().contains(&type_name) {
                    return <$module::$kind as $crate::checks::CheckType>::default_layer(type_name);
                })+
                $crate::model::Layer::Application
            }

            /// The HELP line of a series a type reports, from the type that reports it.
            pub fn series_help(series: &str) -> Option<&'static str> {
                $(if let Some(help) = <$module::$kind as $crate::checks::CheckType>::series_help(series) {
                    return Some(help);
                })+
                None
            }

            /// Whether checks of `type_name` reach over the network (see `CheckType::network`).
            pub fn is_network_type(type_name: &str) -> bool {
                $(if <$module::$kind as $crate::checks::CheckType>::types().contains(&type_name) {
                    return <$module::$kind as $crate::checks::CheckType>::network(type_name);
                })+
                false
            }

            /// The type, for the calls that need no static knowledge.
            fn as_type(&self) -> &dyn $crate::checks::CheckType {
                match self {
                    $(CheckKind::$variant(kind) => kind,)+
                }
            }
        }
    };
}

impl CheckKind {
    /// The `type` this check was written with.
    pub fn type_name(&self) -> &'static str {
        self.as_type().type_name()
    }

    /// Whether this check reaches over the network.
    pub fn is_network(&self) -> bool {
        CheckKind::is_network_type(self.type_name())
    }

    /// What it looks at, any password masked.
    pub fn target(&self) -> String {
        self.as_type().target()
    }

    /// Its probe.
    pub fn build(&self, schedule: Schedule) -> Box<dyn Check> {
        self.as_type().build(schedule)
    }

    /// The series its detail page charts, the headline first (see `CheckType::charts`).
    pub fn charts(&self) -> Vec<Chart> {
        self.as_type().charts()
    }

    /// The unit of its results' headline value.
    pub fn value_unit(&self) -> crate::base::units::ValueUnit {
        self.as_type().value_unit()
    }

    /// Doctor: what the target is called in hints.
    pub fn what(&self) -> &'static str {
        self.as_type().what()
    }

    /// Doctor: the type's own advice for `cause`, if it has any.
    pub fn hint(&self, cause: Cause) -> Option<String> {
        self.as_type().hint(cause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_name_is_registered_once_and_reads_back_to_itself() {
        let names = CheckKind::type_names();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            names.len(),
            "a type name registered twice: {names:?}"
        );
        // In registration order; a new type registers after these.
        assert!(
            names.starts_with(&[
                "http",
                "prometheus",
                "tcp",
                "postgres",
                "mysql",
                "sqlite",
                "redis",
                "log"
            ]),
            "{names:?}"
        );
        assert!(!CheckKind::is_network_type("log"));
        assert!(!CheckKind::is_network_type("sqlite"));
        assert!(CheckKind::is_network_type("postgres"));
        assert!(!CheckKind::is_network_type("nope"));
        assert_eq!(CheckKind::default_layer("mysql"), Layer::Database);
        assert_eq!(CheckKind::default_layer("redis"), Layer::Redis);
        assert_eq!(CheckKind::default_layer("tcp"), Layer::Application);
    }
}
