//! Object storage for cohort: a folder in an S3-compatible bucket (or any other place the
//! `object_store` crate reaches) that files are copied to and from by name.
//!
//! A [`RemoteDir`] is addressed by URL:
//! - `s3://bucket/prefix`: credentials, region and endpoint come from the usual `AWS_*`
//!   variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT` for
//!   MinIO, Ceph or moto, `AWS_ALLOW_HTTP=true` for a plain-HTTP endpoint);
//! - `file:///absolute/path` or a plain directory path: a shared or local file system.
//!
//! Every write is atomic: a reader sees a whole object or none (S3 publishes an object when its
//! upload completes; the local file system writes a temporary file and renames it). Calls block:
//! each [`RemoteDir`] drives its own single-threaded runtime, so callers need no async code.

use std::path::Path as FsPath;
use std::sync::Arc;

use futures::StreamExt;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::io::AsyncWriteExt;
use url::Url;

/// Bytes buffered per upload part. S3 needs at least 5 MiB per part but the last.
const PART_BYTES: usize = 8 * 1024 * 1024;

/// Why a remote operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The URL is not one cohort can use.
    #[error("`{url}` is not an object-store location: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The object store refused or failed.
    #[error("{action} `{location}`: {source}")]
    Store {
        /// What was being done.
        action: &'static str,
        /// The full URL of the object.
        location: String,
        /// The store's error.
        source: object_store::Error,
    },
    /// A local file could not be read or written.
    #[error("{action} `{path}`: {source}")]
    Local {
        /// What was being done.
        action: &'static str,
        /// The local file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// One object in a [`RemoteDir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// Its name relative to the folder, with `/` between parts.
    pub name: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// A folder in an object store.
#[derive(Debug)]
pub struct RemoteDir {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    url: String,
    runtime: tokio::runtime::Runtime,
}

impl RemoteDir {
    /// Opens the folder at `location`: an `s3://` or `file://` URL, or a plain directory path.
    /// Nothing is contacted until the first call.
    pub fn open(location: &str) -> Result<RemoteDir, RemoteError> {
        let bad = |reason: String| RemoteError::BadUrl { url: location.to_string(), reason };
        let url = if location.contains("://") {
            Url::parse(location).map_err(|e| bad(e.to_string()))?
        } else {
            let absolute = std::path::absolute(location).map_err(|e| bad(e.to_string()))?;
            Url::from_directory_path(&absolute).map_err(|()| bad("not an absolute path".into()))?
        };
        if !matches!(url.scheme(), "s3" | "s3a" | "file") {
            return Err(bad(format!(
                "cohort reads and writes `s3://bucket/prefix` (with AWS_* variables for credentials and \
                 endpoint) and `file:///path`, not `{}://`",
                url.scheme()
            )));
        }
        if url.scheme() == "file" {
            // The local store refuses to write into a folder that does not exist yet.
            let dir = url.to_file_path().map_err(|()| bad("not a local path".into()))?;
            std::fs::create_dir_all(&dir).map_err(|e| bad(format!("cannot create the folder: {e}")))?;
        }
        // Only AWS_* variables configure S3: a stray `REGION` or `BUCKET` must not.
        let options = std::env::vars().filter(|(k, _)| k.starts_with("AWS_"));
        let (store, prefix) = object_store::parse_url_opts(&url, options).map_err(|e| bad(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| bad(format!("cannot start the I/O runtime: {e}")))?;
        let url = url.as_str().trim_end_matches('/').to_string();
        Ok(RemoteDir { store: Arc::from(store), prefix, url, runtime })
    }

    /// The folder's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A sub-folder.
    pub fn join(&self, name: &str) -> Result<RemoteDir, RemoteError> {
        RemoteDir::open(&format!("{}/{name}", self.url))
    }

    fn path(&self, name: &str) -> Path {
        name.split('/').filter(|p| !p.is_empty()).fold(self.prefix.clone(), |path, part| path.join(part))
    }

    fn store_error(&self, action: &'static str, name: &str) -> impl FnOnce(object_store::Error) -> RemoteError {
        let location = format!("{}/{name}", self.url);
        move |source| RemoteError::Store { action, location, source }
    }

    /// Writes `bytes` as the object `name`, replacing any object of that name.
    pub fn put_bytes(&self, name: &str, bytes: Vec<u8>) -> Result<(), RemoteError> {
        let path = self.path(name);
        self.runtime
            .block_on(self.store.put(&path, PutPayload::from(bytes)))
            .map(|_| ())
            .map_err(self.store_error("writing", name))
    }

    /// Uploads the local file `from` as the object `name`, streaming it in parts.
    pub fn put_file(&self, name: &str, from: &FsPath) -> Result<u64, RemoteError> {
        let local = |action| {
            let path = from.display().to_string();
            move |source| RemoteError::Local { action, path, source }
        };
        let path = self.path(name);
        self.runtime.block_on(async {
            let mut file = tokio::fs::File::open(from).await.map_err(local("reading"))?;
            let mut writer = BufWriter::with_capacity(self.store.clone(), path, PART_BYTES);
            let copied = match tokio::io::copy(&mut file, &mut writer).await {
                Ok(n) => n,
                Err(e) => {
                    // Leave no incomplete multipart upload behind.
                    let _ = writer.abort().await;
                    return Err(RemoteError::Local {
                        action: "uploading",
                        path: from.display().to_string(),
                        source: e,
                    });
                }
            };
            writer.shutdown().await.map_err(|e| RemoteError::Local {
                action: "finishing the upload of",
                path: from.display().to_string(),
                source: e,
            })?;
            Ok(copied)
        })
    }

    /// Reads the object `name` whole, or `None` when there is none.
    pub fn get_bytes(&self, name: &str) -> Result<Option<Vec<u8>>, RemoteError> {
        let path = self.path(name);
        self.runtime.block_on(async {
            match self.store.get(&path).await {
                Ok(result) => result.bytes().await.map(|b| Some(b.to_vec())).map_err(self.store_error("reading", name)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.store_error("reading", name)(e)),
            }
        })
    }

    /// Downloads the object `name` into the local file `to`, streaming it; the file appears
    /// whole or not at all.
    pub fn get_file(&self, name: &str, to: &FsPath) -> Result<u64, RemoteError> {
        let local = |action| {
            let path = to.display().to_string();
            move |source| RemoteError::Local { action, path, source }
        };
        let partial = to.with_extension("partial");
        let path = self.path(name);
        let written = self.runtime.block_on(async {
            let mut stream = self.store.get(&path).await.map_err(self.store_error("reading", name))?.into_stream();
            let mut file = tokio::fs::File::create(&partial).await.map_err(local("creating"))?;
            let mut written = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(self.store_error("reading", name))?;
                file.write_all(&chunk).await.map_err(local("writing"))?;
                written += chunk.len() as u64;
            }
            file.sync_all().await.map_err(local("writing"))?;
            Ok::<_, RemoteError>(written)
        });
        match written {
            Ok(n) => {
                std::fs::rename(&partial, to).map_err(local("renaming into"))?;
                Ok(n)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                Err(e)
            }
        }
    }

    /// Every object under the folder (at any depth), sorted by name.
    pub fn list(&self) -> Result<Vec<RemoteFile>, RemoteError> {
        let prefix_parts = self.prefix.parts().count();
        let mut files = self.runtime.block_on(async {
            let mut stream = self.store.list(Some(&self.prefix));
            let mut files = Vec::new();
            while let Some(meta) = stream.next().await {
                let meta = meta.map_err(self.store_error("listing", ""))?;
                let name = meta.location.parts().skip(prefix_parts).map(|p| p.as_ref().to_string()).collect::<Vec<_>>();
                files.push(RemoteFile { name: name.join("/"), bytes: meta.size });
            }
            Ok::<_, RemoteError>(files)
        })?;
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_go_up_and_come_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let remote = RemoteDir::open(dir.path().join("bucket/runs").to_str().unwrap()).unwrap();
        assert!(remote.list().unwrap().is_empty());
        let local = dir.path().join("data.bin");
        let content: Vec<u8> = (0..20_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&local, &content).unwrap();
        assert_eq!(remote.put_file("a/data.bin", &local).unwrap(), content.len() as u64);
        remote.put_bytes("a/small.json", b"{}".to_vec()).unwrap();
        let listed = remote.list().unwrap();
        assert_eq!(
            listed,
            vec![
                RemoteFile { name: "a/data.bin".into(), bytes: content.len() as u64 },
                RemoteFile { name: "a/small.json".into(), bytes: 2 },
            ]
        );
        let back = dir.path().join("back.bin");
        remote.get_file("a/data.bin", &back).unwrap();
        assert_eq!(std::fs::read(&back).unwrap(), content);
        assert_eq!(remote.get_bytes("a/small.json").unwrap().unwrap(), b"{}");
        assert_eq!(remote.get_bytes("a/missing.json").unwrap(), None);
        assert_eq!(remote.join("a").unwrap().list().unwrap().len(), 2);
    }

    #[test]
    fn a_failed_download_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let remote = RemoteDir::open(dir.path().to_str().unwrap()).unwrap();
        let to = dir.path().join("out.bin");
        let err = remote.get_file("nothing.bin", &to).unwrap_err();
        assert!(err.to_string().contains("nothing.bin"), "{err}");
        assert!(!to.exists() && !to.with_extension("partial").exists());
    }

    #[test]
    fn unknown_schemes_are_refused_with_what_works() {
        let err = RemoteDir::open("ftp://host/x").unwrap_err().to_string();
        assert!(err.contains("s3://") && err.contains("ftp://"), "{err}");
    }
}
