//! The application's state as a handler sees it. The app holds one state (`crate::state::AppState`,
//! registered once); a handler is generic over it and names what it takes, `S: Has<Issuer>`, and
//! each capability's `configure` registers its handlers for the state the route table is built
//! with. A handler that needs what the state does not hold fails to compile, where a loose
//! `web::Data<Issuer>` answered 500 at run time.

/// `Self` can lend a `T` to a handler.
pub trait Has<T: ?Sized> {
    fn get(&self) -> &T;
}
