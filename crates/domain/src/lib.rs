//! The heart of the controller: entities, validation rules, release arithmetic,
//! the ports (`Store`, `Scheduler`) and the use cases that drive them.
//!
//! This crate performs no I/O and knows no framework: it does not know diesel,
//! bollard or actix-web. Adapters implement [`Store`] and [`Scheduler`]; the HTTP
//! layer calls [`Platform`], whose methods are the use cases of the API.

pub mod certificate;
pub mod error;
pub mod model;
pub mod page;
pub mod platform;
pub mod release;
pub mod routing;
pub mod scheduler;
pub mod store;
pub mod throttle;
pub mod timefmt;
pub mod validate;

pub use certificate::{Certificate, NewCertificate, SealingKey, TlsCertificate};
pub use error::{Error, FieldErrors, SchedulerError, StoreError};
pub use model::*;
pub use page::{PAGE_SIZE, Page, PageSel};
pub use routing::{AppRoutes, Endpoint, Routing, Unhealthy};
pub use scheduler::{
    ContainerSpec, ImageInfo, LogLine, LogStream, Observed, RunEvent, RunEvents, RunInput,
    RunInputs, RunOutput, RunSpec, Scheduler, TagKind, TtySize,
};

pub use platform::{
    BuildInput, CertInput, LogFilter, Platform, PlatformSettings, PushInput, Quotas, Regenerate,
    RestartTarget, image_reference, parse_procfile,
};
pub use store::{AppLock, AppScope, EventFeed, Store};
pub use throttle::{Failures, Throttle};
