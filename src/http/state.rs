//! The application's state as a handler sees it. The app holds one state (`crate::state::AppState`,
//! registered once); a handler is generic over it and names what it takes, `S: Has<Issuer>`, and
//! each capability's `configure` registers its handlers for the state the route table is built
//! with. A handler that needs what the state does not hold fails to compile, where a loose
//! `web::Data<Issuer>` answered 500 at run time.

/// `Self` can lend a `T` to a handler.
pub trait Has<T: ?Sized> {
    fn get(&self) -> &T;
}

/// Declares a capability's `pub trait Needs`, what its routes' handlers take from the app's state
/// (each handler names its own part), and implements it for every state that has those parts:
/// the list is written once.
macro_rules! needs {
    ($($part:ty),+ $(,)?) => {
        /// What these routes' handlers take from the app's state (each handler names its own part).
        pub trait Needs: $($crate::http::Has<$part> +)+ 'static {}

        impl<S> Needs for S where S: $($crate::http::Has<$part> +)+ 'static {}
    };
}
pub(crate) use needs;
