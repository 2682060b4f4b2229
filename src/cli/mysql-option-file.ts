/**
 * The MySQL/MariaDB option file `gatehouse db login` writes for a mysql database
 * (`~/.gatehouse/db/NAME.cnf`, read with `--defaults-extra-file`): `[client]` holds what every
 * client program knows (host, port, user, the certificate, key and CA); the server-certificate
 * check and the database sit in the groups of the programs that know them, since a client
 * refuses an option file with a key it does not know.
 */
export interface MysqlLogin {
  host: string;
  port: number;
  user?: string;
  database?: string;
  ca: string;
  cert: string;
  key: string;
}

const value = (v: string) => (/[\s#;"'\\]/.test(v) ? `"${v.replace(/[\\"]/g, '\\$&')}"` : v);

export function mysqlOptionFile(login: MysqlLogin): string {
  const client = [
    `host=${value(login.host)}`,
    `port=${login.port}`,
    ...(login.user ? [`user=${value(login.user)}`] : []),
    `ssl-ca=${value(login.ca)}`,
    `ssl-cert=${value(login.cert)}`,
    `ssl-key=${value(login.key)}`,
  ];
  return [
    '# Written by `gatehouse db login`; rewritten at each login.',
    '[client]',
    ...client,
    '',
    '[client-mariadb]',
    'ssl-verify-server-cert',
    ...(login.database ? ['', '[mysql]', `database=${value(login.database)}`] : []),
    '',
  ].join('\n');
}

/** Command-line flags that verify the gateway's certificate: MariaDB's clients, or Oracle's `mysql`. */
export const verifyFlags = (mariadb: boolean): string[] => (mariadb ? ['--ssl-verify-server-cert'] : ['--ssl-mode=VERIFY_IDENTITY']);
