/** Docker-style container names: validation and random `adjective_surname` names. */
import { randomInt } from 'node:crypto';
import { InvalidParameterError } from '../errors/index.js';

const LEFT = ['admiring', 'agitated', 'amazing', 'bold', 'brave', 'busy', 'calm', 'clever', 'cool', 'dazzling', 'eager', 'ecstatic', 'elegant', 'epic', 'fervent', 'festive', 'focused', 'friendly', 'gallant', 'gifted', 'happy', 'hopeful', 'jolly', 'keen', 'kind', 'laughing', 'lucid', 'magical', 'modest', 'nice', 'nifty', 'optimistic', 'peaceful', 'practical', 'quirky', 'relaxed', 'serene', 'sharp', 'stoic', 'sweet', 'tender', 'trusting', 'upbeat', 'vibrant', 'vigilant', 'wizardly', 'youthful', 'zealous'];
const RIGHT = ['albattani', 'babbage', 'banach', 'bardeen', 'bartik', 'bell', 'bohr', 'booth', 'borg', 'brown', 'cannon', 'curie', 'darwin', 'dijkstra', 'einstein', 'euclid', 'euler', 'fermat', 'feynman', 'galileo', 'gauss', 'goldberg', 'hamilton', 'hopper', 'hypatia', 'johnson', 'kepler', 'knuth', 'lamport', 'lovelace', 'mccarthy', 'meitner', 'newton', 'noether', 'pascal', 'pike', 'ritchie', 'shannon', 'thompson', 'torvalds', 'turing', 'wilson', 'wozniak', 'wright'];

export function randomName(taken: (n: string) => boolean): string {
  for (let i = 0; i < 50; i++) {
    const n = `${LEFT[randomInt(LEFT.length)]}_${RIGHT[randomInt(RIGHT.length)]}${i > 5 ? randomInt(10) : ''}`;
    if (!taken(n)) return n;
  }
  return `berth_${randomInt(1e9)}`;
}

export function validateName(name: string): string {
  const n = name.startsWith('/') ? name.slice(1) : name;
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(n)) {
    throw new InvalidParameterError(`Invalid container name (${n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  return n;
}
