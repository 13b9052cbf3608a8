import { avatarSrc } from '../lib/format';

/** A profile picture with a fixed size (so nothing moves when it loads, or if it cannot). */
export function Avatar({ image, className, size, alt = '' }: { image: string | null | undefined; className?: string; size: number; alt?: string }) {
  return (
    <img
      src={avatarSrc(image)}
      className={`${className ?? ''} inline-block shrink-0 rounded-full bg-slate-200 object-cover dark:bg-slate-700`}
      width={size}
      height={size}
      style={{ width: size, height: size }}
      alt={alt}
      decoding="async"
      referrerPolicy="no-referrer"
    />
  );
}
