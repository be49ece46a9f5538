//! Certificates for TLS tests, made fresh for each test: a CA, a server certificate for
//! `localhost` and `127.0.0.1`, and client certificates, written as PEM files into a temporary
//! folder that lives as long as the value.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// A certificate authority of a test's own.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    folder: tempfile::TempDir,
    name: String,
}

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct CertificateFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    /// A new CA; `name` tells its files (and its certificates' files) apart from another CA's.
    pub fn new(name: &str) -> anyhow::Result<TestCa> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        let folder = tempfile::tempdir()?;
        std::fs::write(folder.path().join(format!("{name}-ca.crt")), issuer.pem())?;
        Ok(TestCa {
            issuer,
            folder,
            name: name.to_owned(),
        })
    }

    /// The CA certificate's file (for `tls_ca_file` and `tls_client_ca_file`).
    pub fn cert_file(&self) -> PathBuf {
        self.folder.path().join(format!("{}-ca.crt", self.name))
    }

    /// The folder the files are written in.
    pub fn folder(&self) -> &Path {
        self.folder.path()
    }

    /// A server certificate for `localhost` and `127.0.0.1`.
    pub fn server(&self, file_stem: &str) -> anyhow::Result<CertificateFiles> {
        self.leaf(
            file_stem,
            vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate named after `file_stem`.
    pub fn client(&self, file_stem: &str) -> anyhow::Result<CertificateFiles> {
        self.leaf(
            file_stem,
            vec![format!("{file_stem}.test")],
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }

    fn leaf(
        &self,
        file_stem: &str,
        names: Vec<String>,
        usage: ExtendedKeyUsagePurpose,
    ) -> anyhow::Result<CertificateFiles> {
        let mut params = CertificateParams::new(names)?;
        params.distinguished_name.push(DnType::CommonName, file_stem);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let files = CertificateFiles {
            cert: self.folder.path().join(format!("{}-{file_stem}.crt", self.name)),
            key: self.folder.path().join(format!("{}-{file_stem}.key", self.name)),
        };
        std::fs::write(&files.cert, cert.pem())?;
        std::fs::write(&files.key, key.serialize_pem())?;
        Ok(files)
    }
}
