// Certificates for the TLS tests, made at test time with the openssl command (Debian's `openssl`
// package; .ci/run installs it when missing), once per test process, in a temporary directory that
// is removed at exit. Nothing secret is shipped in the repository, and nothing expires in it.
//
// To see what is made, or to make the same files by hand, run the commands in `make` below; the
// server certificate is valid for localhost, 127.0.0.1 and ::1, signed by a CA made alongside.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

export interface TlsFixtures {
  /** The test CA's certificate: what clients trust. */
  ca: string;
  /** A server certificate for localhost, 127.0.0.1 and ::1, signed by `ca`, valid for 10 years. */
  cert: string;
  /** Its private key. */
  key: string;
  /** A server certificate signed by `ca` that expired in 2020 (same names). */
  expiredCert: string;
  /** Its private key. */
  expiredKey: string;
  /** Another CA, which signed nothing here: trusting only it must fail every handshake. */
  otherCa: string;
  /** The directory holding the files: ca.pem, cert.pem, key.pem, expired.pem, expired-key.pem. */
  dir: string;
}

let made: TlsFixtures | undefined;

/** The fixtures, made on first use. */
export function tlsFixtures(): TlsFixtures {
  made ??= make();
  return made;
}

function make(): TlsFixtures {
  const dir = mkdtempSync(join(tmpdir(), "framed-tls-"));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  process.once("exit", remove);
  // `deno test` never emits node:process's 'exit'; it dispatches 'unload'.
  (globalThis as { addEventListener?: (type: string, listener: () => void) => void })
    .addEventListener?.("unload", remove);
  const at = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

  for (const ca of ["ca", "other-ca"]) {
    const subject = `/CN=framed test ${ca}`;
    openssl(
      "req",
      "-x509",
      ...ecKey,
      "-keyout",
      `${ca}-key.pem`,
      "-out",
      `${ca}.pem`,
      "-subj",
      subject,
      "-days",
      "3650",
    );
  }
  writeFileSync(
    at("server.cnf"),
    [
      "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
      "basicConstraints=CA:FALSE",
      "keyUsage=digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "",
    ].join("\n"),
  );
  openssl("req", ...ecKey, "-keyout", "key.pem", "-out", "server.csr", "-subj", "/CN=localhost");
  openssl(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca-key.pem",
    "-set_serial",
    "1",
    "-days",
    "3650",
    "-extfile",
    "server.cnf",
    "-out",
    "cert.pem",
  );
  // An expired certificate needs explicit dates, which only `openssl ca` takes (x509 -req has no
  // start date before OpenSSL 3.4): a throwaway CA database in the same directory.
  writeFileSync(at("index.txt"), "");
  writeFileSync(at("serial"), "02\n");
  writeFileSync(
    at("ca.cnf"),
    [
      "[ca]",
      "default_ca = test",
      "[test]",
      `dir = ${dir}`,
      "database = $dir/index.txt",
      "serial = $dir/serial",
      "new_certs_dir = $dir",
      "certificate = $dir/ca.pem",
      "private_key = $dir/ca-key.pem",
      "default_md = sha256",
      "policy = any",
      "copy_extensions = none",
      "x509_extensions = server",
      "[any]",
      "commonName = supplied",
      "[server]",
      "subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1",
      "basicConstraints = CA:FALSE",
      "extendedKeyUsage = serverAuth",
      "",
    ].join("\n"),
  );
  openssl(
    "req",
    ...ecKey,
    "-keyout",
    "expired-key.pem",
    "-out",
    "expired.csr",
    "-subj",
    "/CN=localhost",
  );
  openssl(
    "ca",
    "-batch",
    "-config",
    "ca.cnf",
    "-in",
    "expired.csr",
    "-startdate",
    "20200101000000Z",
    "-enddate",
    "20200201000000Z",
    "-out",
    "expired.pem",
    "-notext",
  );
  const read = (name: string) => readFileSync(at(name), "utf8");
  return {
    ca: read("ca.pem"),
    cert: read("cert.pem"),
    key: read("key.pem"),
    expiredCert: read("expired.pem"),
    expiredKey: read("expired-key.pem"),
    otherCa: read("other-ca.pem"),
    dir,
  };
}
