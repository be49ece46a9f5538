//! SDMX REST errors: an SDMX-ML 2.1 error message carrying one of the standard SDMX error codes,
//! with the HTTP status the SDMX REST specification pairs with it.

use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use tonic::{Code, Status};

use super::xml::escape;

pub const ERROR_MEDIA_TYPE: &str = "application/vnd.sdmx.error+xml;version=2.1";

/// An SDMX error: `code` is the SDMX code (100, 140, 150…), not the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdmxError {
    pub code: u16,
    pub message: String,
}

impl SdmxError {
    /// 100: the query is valid but selects nothing.
    pub fn no_results(message: impl Into<String>) -> SdmxError {
        SdmxError {
            code: 100,
            message: message.into(),
        }
    }

    /// 140: the query is not well formed (a bad key, period or parameter).
    pub fn syntax(message: impl Into<String>) -> SdmxError {
        SdmxError {
            code: 140,
            message: message.into(),
        }
    }

    /// 150: the query is well formed but asks for something that makes no sense here.
    pub fn semantic(message: impl Into<String>) -> SdmxError {
        SdmxError {
            code: 150,
            message: message.into(),
        }
    }

    /// 501: a feature of SDMX REST the observatory does not offer.
    pub fn not_implemented(message: impl Into<String>) -> SdmxError {
        SdmxError {
            code: 501,
            message: message.into(),
        }
    }

    /// An error of a service behind the gateway, in SDMX terms.
    pub fn from_status(status: &Status) -> SdmxError {
        let code = match status.code() {
            Code::NotFound => 100,
            Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => 140,
            Code::Unauthenticated | Code::PermissionDenied => 110,
            Code::Unimplemented => 501,
            Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted => 503,
            _ => 500,
        };
        SdmxError {
            code,
            message: status.message().to_owned(),
        }
    }

    /// The HTTP status SDMX REST gives each code (sdmx-rest, "Errors and codes").
    pub fn http_status(&self) -> StatusCode {
        match self.code {
            100 => StatusCode::NOT_FOUND,
            110 => StatusCode::UNAUTHORIZED,
            130 | 510 => StatusCode::PAYLOAD_TOO_LARGE,
            140 => StatusCode::BAD_REQUEST,
            150 => StatusCode::FORBIDDEN,
            406 => StatusCode::NOT_ACCEPTABLE,
            501 => StatusCode::NOT_IMPLEMENTED,
            503 => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The SDMX-ML 2.1 error message.
    pub fn document(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <mes:Error xmlns:mes=\"http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message\" \
             xmlns:com=\"http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common\">\n  \
             <mes:ErrorMessage code=\"{}\">\n    <com:Text xml:lang=\"en\">{}</com:Text>\n  \
             </mes:ErrorMessage>\n</mes:Error>\n",
            self.code,
            escape(&self.message)
        )
    }
}

impl IntoResponse for SdmxError {
    fn into_response(self) -> Response {
        (
            self.http_status(),
            [(header::CONTENT_TYPE, ERROR_MEDIA_TYPE)],
            self.document(),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_their_sdmx_http_statuses() {
        assert_eq!(SdmxError::no_results("x").http_status(), StatusCode::NOT_FOUND);
        assert_eq!(SdmxError::syntax("x").http_status(), StatusCode::BAD_REQUEST);
        assert_eq!(SdmxError::semantic("x").http_status(), StatusCode::FORBIDDEN);
        assert_eq!(SdmxError::from_status(&Status::not_found("x")).code, 100);
        assert_eq!(SdmxError::from_status(&Status::invalid_argument("x")).code, 140);
        assert_eq!(SdmxError::from_status(&Status::unavailable("x")).code, 503);
    }

    #[test]
    fn the_message_is_escaped() {
        let document = SdmxError::syntax("`a<b` & \"c\"").document();
        assert!(document.contains("code=\"140\""));
        assert!(document.contains("`a&lt;b` &amp; &quot;c&quot;"));
    }
}
