// The seam for outgoing mail. src/mail/smtp.ts sends through nodemailer; the console transport prints the
// message (and so the code) for the demo.
export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface Mailer {
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
}
